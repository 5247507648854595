import ArgumentParser
import PageTableImages

/// `pgtable dump`: the mappings in a table image or a machine's memory dump.
struct DumpCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dump",
    abstract: "Walk the page tables in an image or memory dump and print the mappings.",
    discussion: """
      INPUT is a table image from `pgtable build`, an ELF core (QEMU dump-guest-memory, \
      kdump vmcore) or raw RAM (with --base). The format and root come from the image \
      header or the core's notes (QEMU's x86-64 CPU state, VMCOREINFO) unless given. \
      Bad entries are reported with their address and the walk goes on. A long walk \
      shows its progress on standard error when that is a terminal (--progress: as \
      lines, anywhere). Exit status: 0 clean, 1 findings (bad entries or a damaged \
      input), 2 usage or input errors.

      Examples:
        pgtable dump boot.img
        pgtable dump guest.core --as json
        pgtable dump ram.bin --base 0x4000_0000 --format arm64:granule=4k --root 0x4010_0000
        pgtable dump boot.img --as map -o map.svg
        pgtable dump vmcore --progress 2> walk.log
      """)

  @Argument(help: "A table image, an ELF core, or raw RAM.")
  var input: String

  @OptionGroup var tables: TableOptions

  @OptionGroup var progress: ProgressOption

  @Option(
    name: .customLong("as"), help: "table, json, map (SVG address-space map) or occupancy (SVG).")
  var style: DumpStyle = .table

  @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
  var output: String?

  func run() throws {
    try Command.run { () throws(ImageError) -> Terminal.ExitStatus in
      let source = try tables.open(input)
      let result = try tables.walk(source, progress.reporter)
      let text: String =
        switch style {
        case .table: DumpReport.table(result, source: source).joined(separator: "\n") + "\n"
        case .json: DumpReport.json(result, source: source) + "\n"
        case .map: AddressSpaceMap(runs: result.runs, title: DumpReport.heading(source)).svg()
        case .occupancy: try OccupancyPicture(result: result, source: source).svg()
        }
      try Terminal.write(text, to: output)
      return result.findingCount > 0 || !source.problems.isEmpty ? .findings : .ok
    }
  }
}

/// How `dump` prints.
enum DumpStyle: String, ExpressibleByArgument, CaseIterable {
  case table, json, map, occupancy
}
