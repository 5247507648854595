import ArgumentParser
import Foundation
import PageTablesTools

/// `pgtable conformance`: checks the library's tables against QEMU's MMUs.
struct ConformanceCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "conformance",
    abstract: "Check the tables the library builds against QEMU's MMU emulation.",
    discussion: """
      Builds the bare-metal guests (Examples/BareMetal), then for every configuration \
      runs QEMU on tables the host built and on tables the guest's own engine built, \
      and compares every probed address with the library's translate. Needs \
      qemu-system-aarch64, -riscv64 and -x86_64 (Scripts/install-qemu.sh). Exit \
      status: 0 every run agrees, 1 a mismatch or a failed run, 2 usage errors (a \
      --filter that matches nothing lists the configurations).

      Examples:
        pgtable conformance
        pgtable conformance --filter RISC-V --seeds 3
      """)

  @Option(help: "How many random seeds to run each configuration with.")
  var seeds = 1

  @Option(help: "The first seed.")
  var seed: UInt64 = 1

  @Option(help: "Only configurations whose name or way contains this text.")
  var filter: String?

  @Option(help: "The package checkout (default: where pgtable was built from).")
  var packageRoot: String?

  func validate() throws {
    do {
      _ = try ConformanceSuite.configurations(matching: filter)
    } catch {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
    var options = ConformanceOptions()
    options.seeds = (0..<UInt64(max(seeds, 1))).map { seed + $0 }
    options.filter = filter
    if let packageRoot { options.packageRoot = URL(fileURLWithPath: packageRoot) }
    let summary = try ConformanceSuite.run(options) { print($0) }
    print(summary.report)
    if !summary.passed { throw ExitCode.failure }
  }
}
