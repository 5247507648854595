/// The TTBR register values that make a DART stream walk a DART table.
///
/// ```swift
/// let format = try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32)
/// let table = try PageTable(format: format, memory: memory)
/// var roots: [UInt64] = []
/// for i in 0..<table.rootCount { roots.append(table.rootAddress(i)) }
/// let activation = try format.activation(rootAddresses: roots)
/// // for each stream: TTBR[i] = activation.ttbrs[i]; then enable translation in TCR
/// ```
///
/// From Linux `drivers/iommu/apple-dart.c`, `apple_dart_hw_set_ttbr`: a TTBR is the
/// 32-bit value `ttbr_valid | (root >> ttbr_shift) << ttbr_addr_field_shift`, with
/// (`apple_dart_hw_t8103`, `_t6000`) valid bit 31, shift 12, field shift 0 on the
/// T8020-style DARTs and (`apple_dart_hw_t8110`) valid bit 0, shift 14, field shift 2
/// on T8110-style ones; TTBRs past the table's roots are 0 (`apple_dart_hw_clear_ttbr`).
extension AppleDARTFormat {
  /// The DART's register generation (which TTBR layout it has).
  public enum RegisterLayout: Hashable, Sendable, CaseIterable {
    /// t8020, t8103 (M1), t6000 (M1 Pro/Max): valid bit 31, address >> 12.
    case t8020
    /// t8110 (M2 and later): valid bit 0, (address >> 14) << 2.
    case t8110

    var validBit: UInt64 { self == .t8020 ? 1 << 31 : 1 }
    var shift: UInt64 { self == .t8020 ? 12 : 14 }
    var fieldShift: UInt64 { self == .t8020 ? 0 : 2 }
  }

  /// What to load for a table of this format.
  public struct Activation: Sendable, Equatable {
    /// TTBR0...TTBR3 (32-bit values; 0 for the TTBRs the table does not use).
    public var ttbrs: [UInt64]

    /// The registers.
    public var registers: [RegisterValue] {
      let names: [StaticString] = ["TTBR0", "TTBR1", "TTBR2", "TTBR3"]
      var result: [RegisterValue] = []
      for (i, value) in ttbrs.enumerated() { result.append(RegisterValue(names[i], value)) }
      return result
    }
  }

  /// The TTBRs for the table whose roots are at `rootAddresses` (one per root, in
  /// order: `table.rootAddress(i)`).
  /// - Throws: ``PageTableError/invalidConfiguration(_:)`` for a root count that is
  ///   not the format's, ``PageTableError/misalignedPhysicalAddress(_:)`` for a root
  ///   not aligned to the layout's shift, ``PageTableError/physicalAddressOutOfRange(_:)``
  ///   for one the 32-bit register cannot hold.
  public func activation(rootAddresses: [UInt64], layout: RegisterLayout = .t8020)
    throws(PageTableError) -> Activation
  {
    guard rootAddresses.count == geometry.rootCount else {
      throw .invalidConfiguration(
        "AppleDART: \(geometry.rootCount) roots, not \(rootAddresses.count)")
    }
    var ttbrs: [UInt64] = [0, 0, 0, 0]
    for (i, root) in rootAddresses.enumerated() {
      guard root & ((1 << layout.shift) - 1) == 0 else { throw .misalignedPhysicalAddress(root) }
      let field = (root >> layout.shift) << layout.fieldShift
      guard field | layout.validBit <= 0xFFFF_FFFF, field & layout.validBit == 0,
        root >> UInt64(version.outputBits) == 0
      else { throw .physicalAddressOutOfRange(root) }
      ttbrs[i] = field | layout.validBit
    }
    return Activation(ttbrs: ttbrs)
  }
}

extension PageTable where Format == AppleDARTFormat {
  /// The TTBRs that activate this table's roots (see
  /// ``AppleDARTFormat/activation(rootAddresses:layout:)``).
  ///
  /// ```swift
  /// let ttbrs = try table.activation(layout: .t8110).ttbrs
  /// ```
  public func activation(layout: AppleDARTFormat.RegisterLayout = .t8020)
    throws(PageTableError) -> AppleDARTFormat.Activation
  {
    var roots: [UInt64] = []
    for i in 0..<rootCount { roots.append(rootAddress(i)) }
    return try format.activation(rootAddresses: roots, layout: layout)
  }
}
