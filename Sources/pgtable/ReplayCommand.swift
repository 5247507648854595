import ArgumentParser
import MMUModel
import PageTableImages

/// `pgtable replay TRACE`: replays a recorded trace through the MMU model.
struct ReplayCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "replay",
    abstract: "Replay a recorded trace (JSON lines) through the MMU model and print its reports.",
    discussion: """
      The first line names the format ({"format": "arm64-4k", "asid": 1}); then one \
      operation a line: map, unmap, invalidate, access, free, check (see TraceReplay in \
      the MMUModel documentation). Exit status: 0 nothing reported, 1 the model \
      reports something, 2 the trace cannot be read or replayed. Formats: \
      \(TraceReplay.formatNames.joined(separator: ", ")).

      Example:
        pgtable replay Examples/Traces/unmap-without-invalidation.jsonl
      """)

  @Argument(help: "The trace file (JSON lines).")
  var trace: String

  func run() throws {
    let summary: TraceReplay.Summary
    do {
      summary = try TraceReplay.run(path: trace) { print($0) }
    } catch {
      Terminal.error("\(error)")
      throw ExitCode(Terminal.ExitStatus.usage.rawValue)
    }
    if !summary.reports.isEmpty { throw ExitCode(Terminal.ExitStatus.findings.rawValue) }
  }
}
