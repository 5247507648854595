import Foundation

/// One line of a trace: a JSON object with an `op` (or, first, the header with a
/// `format`). Numbers may be JSON numbers or strings (`"0x20_0000"` or decimal).
struct TraceRecord: Decodable {
  var op: String?
  var format: String?
  var asid: TraceNumber?
  var va: TraceNumber?
  var pa: TraceNumber?
  var size: TraceNumber?
  var granule: TraceNumber?
  var prot: String?
  var kind: String?
  var user: Bool?
  var scope: String?
  var leafOnly: Bool?
  var invalidate: Bool?
  var tableBase: TraceNumber?
  var tableBytes: TraceNumber?

  /// Parses one line.
  static func parse(_ line: String, number: Int) throws(TraceError) -> TraceRecord {
    do {
      return try JSONDecoder().decode(TraceRecord.self, from: Data(line.utf8))
    } catch let error as DecodingError {
      throw .malformedLine(line: number, reason: Self.explain(error))
    } catch {
      throw .malformedLine(line: number, reason: "\(error)")
    }
  }

  static func explain(_ error: DecodingError) -> String {
    switch error {
    case .dataCorrupted(let context): context.debugDescription
    case .keyNotFound(let key, _): "missing \(key.stringValue)"
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
      "\(context.codingPath.map(\.stringValue).joined(separator: ".")): "
        + context.debugDescription
    @unknown default: "\(error)"
    }
  }

  /// The value of a required number field.
  func number(_ value: TraceNumber?, _ field: String, line: Int) throws(TraceError) -> UInt64 {
    guard let value else { throw .badField(line: line, field: field, reason: "missing") }
    return value.value
  }
}

/// A 64-bit number written as a JSON number or a string (hexadecimal with `0x`,
/// underscores allowed).
struct TraceNumber: Decodable {
  var value: UInt64

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let number = try? container.decode(UInt64.self) {
      value = number
      return
    }
    let text = try container.decode(String.self).replacingOccurrences(of: "_", with: "")
    let parsed =
      text.hasPrefix("0x") || text.hasPrefix("0X")
      ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    guard let parsed else {
      throw DecodingError.dataCorruptedError(
        in: container, debugDescription: "'\(text)' is not a 64-bit number")
    }
    value = parsed
  }
}
