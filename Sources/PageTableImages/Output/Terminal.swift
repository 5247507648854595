import Foundation

/// What the command line tool writes besides its report: errors on standard
/// error, and the exit codes scripts rely on (progress: ``ProgressReporter``).
///
/// ```swift
/// Terminal.error("cannot read dump.bin")   // pgtable: cannot read dump.bin
/// exit(Terminal.ExitStatus.findings.rawValue)
/// ```
public enum Terminal {
  /// `pgtable`'s exit codes.
  public enum ExitStatus: Int32, Sendable {
    /// Done, nothing wrong.
    case ok = 0
    /// Done, and something was found: differences, bad entries, a truncated input.
    case findings = 1
    /// The command line or an input could not be used.
    case usage = 2
  }

  /// Whether standard error is a terminal (where ``ProgressReporter`` rewrites
  /// one line in place).
  public static var errorIsTerminal: Bool { isatty(2) == 1 }

  /// Writes `pgtable: message` and a newline to standard error.
  public static func error(_ message: String) {
    FileHandle.standardError.write(Data("pgtable: \(message)\n".utf8))
  }

  /// Writes `text` to `path`, or to standard output when `path` is nil or `-`.
  ///
  /// - Throws: ``ImageError/input(_:)`` when the file cannot be written.
  public static func write(_ text: String, to path: String?) throws(ImageError) {
    try write(Array(text.utf8), to: path)
  }

  /// Writes `bytes` to `path`, or to standard output when `path` is nil or `-`.
  ///
  /// - Throws: ``ImageError/input(_:)`` when the file cannot be written.
  public static func write(_ bytes: [UInt8], to path: String?) throws(ImageError) {
    guard let path, path != "-" else {
      FileHandle.standardOutput.write(Data(bytes))
      return
    }
    do {
      try Data(bytes).write(to: URL(fileURLWithPath: path))
    } catch {
      throw .input("cannot write \(path): \(error.localizedDescription)")
    }
  }

  /// Reads a text file.
  ///
  /// - Throws: ``ImageError/input(_:)`` when it cannot be read as UTF-8.
  public static func readText(_ path: String) throws(ImageError) -> String {
    do {
      return try String(contentsOf: URL(fileURLWithPath: path), encoding: .utf8)
    } catch {
      throw .input("cannot read \(path): \(error.localizedDescription)")
    }
  }
}
