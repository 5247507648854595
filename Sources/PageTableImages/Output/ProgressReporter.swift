import Foundation

/// Progress of a long run (a walk of a dump of many GiB) on standard error: one
/// line rewritten in place on a terminal, or one line per report when asked for
/// elsewhere (`pgtable … --progress` into a log); standard output is never
/// touched.
///
/// ```swift
/// let reporter = ProgressReporter(style: ProgressReporter.style(requested: false))
/// let result = try TableWalker(source).walk { reporter.report($0.line) }
/// reporter.finish()   // clears a terminal's line
/// ```
public struct ProgressReporter: Sendable {
  /// How progress is shown.
  public enum Style: Sendable, Equatable {
    /// Not at all.
    case off
    /// One line, rewritten in place (`\r`, erase line): for a terminal.
    case overwrite
    /// One line per report: for a log file or a pipe.
    case lines
  }

  /// How this reporter shows progress.
  public let style: Style

  /// A reporter that shows progress in `style`.
  public init(style: Style) { self.style = style }

  /// The style `pgtable` uses: rewritten in place when standard error is a
  /// terminal; otherwise one line per report if `requested` (`--progress`), else
  /// nothing.
  public static func style(requested: Bool, errorIsTerminal: Bool = Terminal.errorIsTerminal)
    -> Style
  {
    errorIsTerminal ? .overwrite : requested ? .lines : .off
  }

  /// Shows `text` as the current progress.
  public func report(_ text: String) {
    switch style {
    case .off: return
    case .overwrite: write("\r\u{1B}[K\(text)")
    case .lines: write("pgtable: \(text)\n")
    }
  }

  /// Ends the progress display: clears a terminal's line (what stays on a
  /// terminal is the report, not the progress); lines stay as written.
  public func finish() {
    if style == .overwrite { write("\r\u{1B}[K") }
  }

  func write(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }
}
