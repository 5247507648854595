import PageTables

/// Why a trace could not be replayed.
public enum TraceError: Error, Sendable, CustomStringConvertible {
  /// The trace file could not be read.
  case unreadableFile(path: String, reason: String)
  /// A line is not a JSON object of the trace format.
  case malformedLine(line: Int, reason: String)
  /// The header names a format the replayer does not know.
  case unknownFormat(line: Int, name: String, known: [String])
  /// An operation the trace format does not have.
  case unknownOperation(line: Int, name: String)
  /// An operation lacks a field it needs, or has a bad value in it.
  case badField(line: Int, field: String, reason: String)
  /// The engine refused an operation (a bad range, an existing mapping, …).
  case refused(line: Int, error: PageTableError)

  public var description: String {
    switch self {
    case .unreadableFile(let path, let reason): "cannot read trace \(path): \(reason)"
    case .malformedLine(let line, let reason): "line \(line): not a trace record: \(reason)"
    case .unknownFormat(let line, let name, let known):
      "line \(line): unknown format '\(name)' (known: \(known.joined(separator: ", ")))"
    case .unknownOperation(let line, let name):
      "line \(line): unknown operation '\(name)' (map, unmap, invalidate, access, free, check)"
    case .badField(let line, let field, let reason): "line \(line): field '\(field)': \(reason)"
    case .refused(let line, let error): "line \(line): the engine refused it: \(error)"
    }
  }
}
