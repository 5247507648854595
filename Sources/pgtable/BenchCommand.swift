import ArgumentParser
import PageTablesTools

/// `pgtable bench`: a quick throughput report per format.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "A quick throughput report per format on this machine.",
    discussion: """
      Maps, translates and unmaps single 4 KiB pages, and maps a 1 GiB range, in every \
      format, and prints nanoseconds per operation. A quick look: for measurements, \
      run the benchmarks in Benchmarks/ (swift package benchmark). Build in release \
      (swift run -c release pgtable bench) for meaningful figures. Exit status: 0 done, \
      2 usage errors.

      Example:
        pgtable bench --pages 65536
      """)

  @Option(help: "Single pages to map per format.")
  var pages = 16_384

  func run() throws {
    guard pages > 0 && pages <= 1 << 20 else {
      throw ValidationError("--pages must be 1 to 1048576")
    }
    let report = try QuickBench.run(pages: pages)
    for line in report.lines { print(line) }
  }
}
