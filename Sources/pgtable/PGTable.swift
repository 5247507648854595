import ArgumentParser
import PageTablesTools

/// The `pgtable` command: a thin front end; everything it does is library code in
/// `PageTablesTools`.
///
/// Exit codes: 0 success, 1 findings or a failed run (bad entries, differences, a
/// conformance mismatch), 2 a usage or input error (unknown subcommand or option,
/// bad value, unreadable input).
@main
struct PGTable: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pgtable",
    abstract: "Owned physical pages and the hardware page tables built on them.",
    discussion: "Exit codes: 0 success, 1 findings or a failed run, 2 a usage or input error.",
    version: PackageVersion.current,
    subcommands: [
      DemoCommand.self, ConformanceCommand.self, BuildCommand.self, DumpCommand.self,
      TranslateCommand.self, DiffCommand.self, BenchCommand.self,
      ReplayCommand.self,
    ])

  /// Parses and runs, refusing `help` for a subcommand that does not exist (the
  /// parser would print the top-level help and succeed).
  static func main() {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if arguments.first == "help", let problem = unknownHelpTopic(arguments.dropFirst()) {
      Command.exit(Self.self, usageError: ValidationError(problem))
    }
    Command.main(Self.self, arguments)
  }

  /// Why `pgtable help <path>` names no command, or nil when it does.
  static func unknownHelpTopic(_ path: ArraySlice<String>) -> String? {
    var known = configuration.subcommands.map { ($0._commandName, $0.configuration.subcommands) }
    for name in path where !name.hasPrefix("-") {
      guard let next = known.first(where: { $0.0 == name }) else {
        let names = known.map(\.0).joined(separator: ", ")
        return known.isEmpty
          ? "'\(name)' is not a subcommand (this command has none)"
          : "unknown subcommand '\(name)' (known: \(names))"
      }
      known = next.1.map { ($0._commandName, $0.configuration.subcommands) }
    }
    return nil
  }
}

struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Exercise the page layer and the page tables, and say what happened.",
    discussion: """
      Allocates pages, builds page tables on them, then binds and unbinds a GPU VM, \
      printing each step. Exit status: 0 when every step worked, 1 otherwise.

      Example:
        pgtable demo
      """)

  func run() throws {
    try Demo.run { print($0) }
  }
}
