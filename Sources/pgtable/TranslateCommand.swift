import ArgumentParser
import PageTableImages

/// `pgtable translate`: the walk for each address, level by level.
struct TranslateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "translate",
    abstract: "Walk virtual addresses level by level, as the hardware would.",
    discussion: """
      For each address: every entry read (its address, raw value and meaning), ending \
      in the physical address or the fault the hardware would raise. Exit status: 0 \
      every address translates, 1 one or more fault, 2 usage or input errors.

      Examples:
        pgtable translate boot.img 0xffff800000001234 0x400000
        pgtable translate guest.core 0xffffffff81000000
      """)

  @Argument(help: "A table image, an ELF core, or raw RAM.")
  var input: String

  @Argument(help: "Virtual addresses (hex with 0x, or decimal).")
  var addresses: [String]

  @OptionGroup var tables: TableOptions

  func run() throws {
    try Command.run { () throws(ImageError) -> Terminal.ExitStatus in
      let values = try addresses.map { text throws(ImageError) in
        guard let value = NumberParsing.address(text) else {
          throw .input("\"\(text)\" is not an address")
        }
        return value
      }
      guard !values.isEmpty else { throw .input("give one or more virtual addresses") }
      let source = try tables.open(input)
      let walker = try TableWalker(source)
      print(DumpReport.heading(source))
      var faulted = false
      for value in values {
        let trace = walker.translate(value)
        if case .fault = trace.outcome { faulted = true }
        for line in trace.lines { print(line) }
      }
      return faulted ? .findings : .ok
    }
  }
}
