/// One system register (or table slot) and the value to load into it, as the
/// formats' activation values list them.
///
/// ```swift
/// let activation = try format.activation(rootAddress: table.rootAddress(), pcid: 1)
/// for register in activation.registers { print(register.name, register.value) }
/// ```
public struct RegisterValue: Sendable, Equatable {
  /// The register's architectural name, such as `TCR_EL1` or `satp`.
  public let name: StaticString
  /// The value to load.
  public let value: UInt64

  /// A register and its value.
  public init(_ name: StaticString, _ value: UInt64) {
    self.name = name
    self.value = value
  }

  /// Whether both name the same register with the same value.
  public static func == (lhs: RegisterValue, rhs: RegisterValue) -> Bool {
    guard lhs.value == rhs.value else { return false }
    // SAFETY: the buffers are only read inside the closures that lend them.
    return lhs.name.withUTF8Buffer { a in
      rhs.name.withUTF8Buffer { b in unsafe a.elementsEqual(b) }
    }
  }
}
