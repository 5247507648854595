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
      Bad entries are reported with their address and the walk goes on. Exit status: \
      0 clean, 1 findings (bad entries or a damaged input), 2 usage or input errors.

      Examples:
        pgtable dump boot.img
        pgtable dump guest.core --as json
        pgtable dump ram.bin --base 0x4000_0000 --format arm64:granule=4k --root 0x4010_0000
        pgtable dump boot.img --as map -o map.svg
      """)

  @OptionGroup var input: InputOptions

  @Option(
    name: .customLong("as"), help: "table, json, map (SVG address-space map) or occupancy (SVG).")
  var style: DumpStyle = .table

  @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
  var output: String?

  func run() throws {
    try Command.run { () throws(ImageError) -> Terminal.ExitStatus in
      let source = try input.open()
      let result = try input.walk(source)
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

/// Where the tables are: the input file, and what its header or notes do not say.
struct InputOptions: ParsableArguments {
  @Argument(help: "A table image, an ELF core, or raw RAM.")
  var path: String

  @Option(help: "The format, e.g. x86-64, arm64:granule=16k,inputBits=47, sv39, dart:version=2.")
  var format: String?

  @Option(help: "The root table's physical address.")
  var root: String?

  @Option(help: "Physical address of a raw file's first byte (default 0).")
  var base: String?

  func open() throws(ImageError) -> DumpSource {
    try DumpSource.open(
      path: path,
      format: format.map { text throws(ImageError) in try FormatDescriptor(parsing: text) },
      root: Command.address(root, "root"), base: Command.address(base, "base"))
  }

  func walk(_ source: DumpSource) throws(ImageError) -> WalkResult {
    let result = try TableWalker(source).walk { progress in
      Terminal.progress("walking: \(progress.tables) tables, \(progress.runs) runs")
    }
    Terminal.endProgress()
    return result
  }
}
