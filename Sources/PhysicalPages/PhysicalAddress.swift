/// An address in the simulated machine's physical address space.
///
/// Physical addresses are what page tables store and what devices see. They are
/// plain numbers: holding one gives no access to memory. Turn one into access with
/// `PhysicalMemory.withPage(at:_:)` or take ownership back with
/// ``Page/init(fromPhysicalAddress:in:)``.
///
/// ```swift
/// let address = PhysicalAddress(0x8000_1000)
/// print(address)  // 0x80001000
/// ```
///
/// ## Invariants
/// None: every `UInt64` is a valid value; whether it is RAM is checked where it is used.
public struct PhysicalAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
  /// The address as a number.
  public var rawValue: UInt64

  /// Wraps a number as a physical address.
  public init(_ rawValue: UInt64) {
    self.rawValue = rawValue
  }

  /// Wraps a number as a physical address.
  public init(rawValue: UInt64) {
    self.rawValue = rawValue
  }

  /// The address in hexadecimal, `0x` prefixed.
  public var description: String {
    "0x" + String(rawValue, radix: 16)
  }

  /// Orders addresses numerically.
  public static func < (lhs: PhysicalAddress, rhs: PhysicalAddress) -> Bool {
    lhs.rawValue < rhs.rawValue
  }

  /// The address `offset` bytes further on.
  public static func + (lhs: PhysicalAddress, offset: UInt64) -> PhysicalAddress {
    PhysicalAddress(lhs.rawValue + offset)
  }
}

extension PhysicalAddress: ExpressibleByIntegerLiteral {
  /// Writes a physical address as an integer literal: `let a: PhysicalAddress = 0x8000_0000`.
  public init(integerLiteral value: UInt64) {
    self.rawValue = value
  }
}

/// Formats a frame number (page frame number, `address / pageSize`) for messages.
func frameDescription(_ frame: UInt64) -> String {
  "frame 0x" + String(frame, radix: 16)
}
