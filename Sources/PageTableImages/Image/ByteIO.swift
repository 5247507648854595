/// Little-endian writing of header fields.
struct ByteWriter {
  var bytes: [UInt8] = []
  mutating func append(_ more: [UInt8]) { bytes.append(contentsOf: more) }
  mutating func append32(_ value: UInt32) {
    for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(8 * i))) }
  }
  mutating func append64(_ value: UInt64) {
    for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * i))) }
  }
  mutating func append16(_ value: UInt16) {
    bytes.append(UInt8(truncatingIfNeeded: value))
    bytes.append(UInt8(truncatingIfNeeded: value >> 8))
  }
}

/// Bounds-checked little-endian reads from untrusted bytes: every read past the
/// end answers `nil` (or fewer bytes), never traps.
struct ByteReader<Bytes: RandomAccessCollection<UInt8>> {
  let data: Bytes
  init(_ data: Bytes) { self.data = data }

  var count: Int { data.count }

  func value(_ offset: Int, _ width: Int) -> UInt64? {
    guard offset >= 0, width <= 8, offset <= data.count - width else { return nil }
    var result: UInt64 = 0
    var index = data.index(data.startIndex, offsetBy: offset)
    for i in 0..<width {
      result |= UInt64(data[index]) << UInt64(8 * i)
      index = data.index(after: index)
    }
    return result
  }

  func u16(_ offset: Int) -> UInt16? { value(offset, 2).map { UInt16(truncatingIfNeeded: $0) } }
  func u32(_ offset: Int) -> UInt32? { value(offset, 4).map { UInt32(truncatingIfNeeded: $0) } }
  func u64(_ offset: Int) -> UInt64? { value(offset, 8) }

  /// Up to `count` bytes from `offset` (fewer at the end of the data).
  func bytes(_ offset: Int, _ count: Int) -> [UInt8] {
    guard offset >= 0, offset < data.count, count > 0 else { return [] }
    let start = data.index(data.startIndex, offsetBy: offset)
    let end = data.index(start, offsetBy: min(count, data.count - offset))
    return Array(data[start..<end])
  }
}
