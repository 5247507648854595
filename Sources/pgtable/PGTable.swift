import ArgumentParser
import PageTablesTools

/// The `pgtable` command: a thin front end; everything it does is library code in
/// `PageTablesTools`.
@main
struct PGTable: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pgtable",
    abstract: "Owned physical pages and the hardware page tables built on them.",
    subcommands: [DemoCommand.self, ConformanceCommand.self])
}

struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Exercise the page layer and the page tables, and say what happened.")

  func run() throws {
    try Demo.run { print($0) }
  }
}
