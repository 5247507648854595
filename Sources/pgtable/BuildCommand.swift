import ArgumentParser
import PageTableImages

/// `pgtable build`: a mapping spec in, a table image out.
struct BuildCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "build",
    abstract: "Build page tables from a mapping spec (JSON or YAML) and write the table image.",
    discussion: """
      Prints the root table's address and the register values to load. The same spec \
      always gives the same bytes. The image is a 4 KiB header (format, base, roots) \
      followed by the tables; --raw writes only the tables, to load at the base. A spec \
      error names the file, line and field. Exit status: 0 built, 2 usage, spec or \
      input errors (nothing is written).

      Example:
        pgtable build boot.yaml -o boot.img
      with boot.yaml:
        format: x86-64
        base: 0x10_0000
        regions:
          - { va: 0xffff_8000_0000_0000, pa: 0, size: 1G, protection: rwg }
      """)

  @Argument(help: "The mapping spec (.json, .yaml or .yml).")
  var spec: String

  @Option(name: .shortAndLong, help: "Where to write the image.")
  var output: String

  @Flag(help: "Write only the table bytes (no header).")
  var raw = false

  func run() throws {
    try Command.run { () throws(ImageError) -> Terminal.ExitStatus in
      let text = try Terminal.readText(spec)
      let image = try TableBuilder.build(MappingSpec.parse(text, name: spec))
      try Terminal.write(raw ? image.bytes : image.serialized(), to: output)
      for line in try BuildReport.lines(image) { print(line) }
      return .ok
    }
  }
}
