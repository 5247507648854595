import Foundation
import PageTables

/// Replays a recorded trace of a driver's operations (JSON lines) through the engine
/// and the model, and says what the model found: `pgtable replay TRACE`.
///
/// ```swift
/// let summary = try TraceReplay.run(lines: [
///   #"{"format": "arm64-4k", "asid": 1}"#,
///   #"{"op": "map", "va": "0x200000", "pa": "0x80200000", "size": "0x1000", "prot": "rw"}"#,
///   #"{"op": "access", "va": "0x200010", "kind": "write"}"#,
///   #"{"op": "unmap", "va": "0x200000", "size": "0x1000", "invalidate": false}"#,
///   #"{"op": "access", "va": "0x200010"}"#,
/// ]) { print($0) }
/// summary.reports.map(\.rule)        // [.tableFreedWhileReachable, …, .staleTranslation]
/// ```
///
/// The first line is the header: `format` (one of ``formatNames``), and optionally
/// `asid`, `tableBase` and `tableBytes` (where the tables live; default 64 MiB at
/// 0x4000_0000). Then one operation a line (numbers are JSON numbers or strings,
/// hexadecimal with `0x`):
///
/// - `map`: `va`, `pa`, `size`, `prot` (letters: `r` read, `w` write, `x` execute,
///   `u` user, `g` global);
/// - `unmap`: `va`, `size`, and `invalidate` (default true; false means the driver's
///   gather dropped its invalidations, as a buggy driver's would);
/// - `invalidate`: `scope` (`all`, `asid`, `range`, `asid-range`), and for ranges
///   `va`, `size`, `granule` (default the format's page), `leafOnly` (default true),
///   `asid` (default the header's);
/// - `access`: `va`, `kind` (`read`, `write`, `execute`; default read), `user`;
/// - `free`: `pa`, `size` (a data page or table page given back);
/// - `check`: report every change no invalidation has covered yet.
///
/// Empty lines and lines starting with `#` or `//` are skipped.
public enum TraceReplay {
  /// What a replay found.
  public struct Summary: Sendable {
    /// Operations replayed.
    public var operations: Int
    /// Accesses that faulted.
    public var faults: Int
    /// Everything the checker reported, in order.
    public var reports: [MMUReport]
  }

  /// The format names a header may use.
  public static var formatNames: [String] { TraceFormats.names }

  /// Replays the trace in the file at `path`, passing each line of output to `output`.
  /// - Throws: ``TraceError`` for an unreadable file or a bad line (nothing after it
  ///   is replayed).
  public static func run(path: String, output: (String) -> Void) throws(TraceError) -> Summary {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw .unreadableFile(path: path, reason: error.localizedDescription)
    }
    return try run(
      lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init),
      output: output)
  }

  /// Replays `lines` (the header first), passing each line of output to `output`.
  /// - Throws: ``TraceError`` for a bad line (nothing after it is replayed).
  public static func run(lines: [String], output: (String) -> Void) throws(TraceError) -> Summary {
    let records = try parse(lines)
    guard let (headerLine, header) = records.first else {
      throw .malformedLine(line: 1, reason: "the trace is empty (it needs a header)")
    }
    guard let name = header.format else {
      throw .badField(
        line: headerLine, field: "format", reason: "the first record names the format")
    }
    let summary = try withoutActuallyEscaping(output) { (output) throws(TraceError) in
      let replayer = Replayer(
        header: header, headerLine: headerLine, records: Array(records.dropFirst()),
        output: output)
      return try TraceFormats.with(name, replayer)
    }
    guard let summary else {
      throw .unknownFormat(line: headerLine, name: name, known: TraceFormats.names)
    }
    return summary
  }

  /// The records of `lines` with their line numbers, skipping blanks and comments.
  static func parse(_ lines: [String]) throws(TraceError) -> [(Int, TraceRecord)] {
    var records: [(Int, TraceRecord)] = []
    for (offset, line) in lines.enumerated() {
      let text = line.trimmingCharacters(in: .whitespaces)
      if text.isEmpty || text.hasPrefix("#") || text.hasPrefix("//") { continue }
      records.append((offset + 1, try TraceRecord.parse(text, number: offset + 1)))
    }
    return records
  }
}
