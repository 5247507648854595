import ArgumentParser
import PageTableImages

/// `pgtable diff`: the mappings that differ between two inputs.
struct DiffCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "diff",
    abstract: "Print the mappings that differ between two images or dumps.",
    discussion: """
      Lines start with - (mapped only in the first), + (only in the second) or ~ \
      (mapped differently), then the range and both sides' physical address and \
      protection. Page sizes and accessed/dirty flags are not compared. Exit status: \
      0 the same, 1 differences, 2 usage or input errors.

      Examples:
        pgtable diff before.img after.img
        pgtable diff a.core b.core --format x86-64 --root 0x1000
      """)

  @Argument(help: "The first image or dump.")
  var first: String

  @Argument(help: "The second image or dump.")
  var second: String

  @OptionGroup var tables: TableOptions

  @OptionGroup var progress: ProgressOption

  func run() throws {
    try Command.run { () throws(ImageError) -> Terminal.ExitStatus in
      let a = try tables.open(first)
      let b = try tables.open(second)
      let reporter = progress.reporter
      let differences = MappingDiff.compare(
        try tables.walk(a, reporter).runs, try tables.walk(b, reporter).runs)
      for difference in differences { print(difference) }
      print("\(differences.count) differences")
      return differences.isEmpty ? .ok : .findings
    }
  }
}
