/// A fuzzer's input read front to back as numbers and choices; reads past the end
/// give zeros, so every input is a complete program.
///
/// ```swift
/// var input = FuzzInput(Array(bytes))
/// let operation = input.choose(6)        // 0..<6
/// let address = input.address(pageSize: 4096)
/// ```
public struct FuzzInput {
  let bytes: [UInt8]
  var position = 0

  /// Reads `bytes`.
  public init(_ bytes: [UInt8]) {
    self.bytes = bytes
  }

  /// Reads `count` bytes at `data` (libFuzzer's arguments).
  ///
  /// - Safety: `data` must be valid for reads of `count` bytes (or `count` is 0).
  @unsafe
  public init(_ data: UnsafePointer<UInt8>?, _ count: Int) {
    self.bytes =
      unsafe data.map { unsafe Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
  }

  /// Whether every byte was read.
  public var isAtEnd: Bool { position >= bytes.count }

  /// The bytes not yet read.
  public var rest: ArraySlice<UInt8> { bytes[min(position, bytes.count)...] }

  /// The next byte (0 past the end).
  public mutating func byte() -> UInt8 {
    defer { position += 1 }
    return position < bytes.count ? bytes[position] : 0
  }

  /// The next `count` bytes as a little-endian number.
  public mutating func number(bytes count: Int) -> UInt64 {
    var value: UInt64 = 0
    for k in 0..<count { value |= UInt64(byte()) << UInt64(8 * k) }
    return value
  }

  /// A value in `0..<count` (`count` > 0).
  public mutating func choose(_ count: Int) -> Int { Int(byte()) % count }

  /// One of `choices`.
  public mutating func pick<T>(_ choices: [T]) -> T { choices[choose(choices.count)] }

  /// A boolean.
  public mutating func flag() -> Bool { byte() & 1 == 1 }

  /// A signed number that is usually small and sometimes extreme (for arguments
  /// that must be refused rather than trap).
  public mutating func integer() -> Int {
    switch choose(8) {
    case 0: return Int.max - Int(byte())
    case 1: return Int.min + Int(byte())
    case 2: return -Int(byte())
    case 3: return Int(truncatingIfNeeded: number(bytes: 8))
    default: return Int(number(bytes: 2))
    }
  }
}
