import PageTables

/// A concrete format chosen at run time (from a ``FormatDescriptor``), with what the
/// tools need beyond the engine's description: register values, the accessed and
/// dirty flags of a leaf, and the encodings the hardware reserves.
///
/// ```swift
/// let resolved = try FormatDescriptor(parsing: "x86-64").resolve()
/// resolved.format.geometry.levels.count     // 4
/// ```
public enum ResolvedFormat: Sendable {
  /// An ARM64 format.
  case arm64(ARM64Format)
  /// An x86-64 format.
  case x86_64(X86_64Format)
  /// A RISC-V format.
  case riscv(RISCVFormat)
  /// An Apple UAT format.
  case uat(AppleUATFormat)
  /// An Apple DART format.
  case dart(AppleDARTFormat)

  /// The format description, for the engine and the walker.
  public var format: any PageTableFormat {
    switch self {
    case .arm64(let f): f
    case .x86_64(let f): f
    case .riscv(let f): f
    case .uat(let f): f
    case .dart(let f): f
    }
  }

  /// The format's geometry.
  public var geometry: Geometry { format.geometry }

  /// The flags of a leaf beyond its protection: accessed, dirty, contiguous.
  public func flags(of entry: UInt64, level: Int) -> LeafFlags {
    let format = self.format
    var flags = LeafFlags()
    flags.contiguous = format.isContiguous(entry, level: level)
    flags.dirty = format.tracksDirtyState && format.isDirty(entry, level: level)
    switch self {
    case .x86_64: flags.accessed = entry & (1 << 5) != 0  // A
    case .riscv: flags.accessed = entry & (1 << 6) != 0  // A
    case .arm64, .uat: flags.accessed = entry & (1 << 10) != 0  // AF
    case .dart: flags.accessed = true  // DART has no accessed flag
    }
    return flags
  }

  /// Why the hardware would refuse `entry` at `level` (a reserved encoding or
  /// reserved bits set), or `nil` when it is well formed. Only valid entries are
  /// checked: an entry the format calls empty but that has its valid bit set is
  /// a reserved encoding (an ARM64 block where the granule has none).
  public func reservedEncoding(_ entry: UInt64, level: Int) -> String? {
    let levels = geometry.levels
    switch self {
    case .arm64(let f):
      if entry & 1 != 0 && f.kind(of: entry, level: level) == .empty {
        return level == levels.count - 1
          ? "reserved encoding: a level-3 entry with bit 1 clear"
          : "reserved encoding: a block where this granule has none"
      }
    case .x86_64(let f):
      guard entry & 1 != 0 else { return nil }
      let isLastLevel = level == levels.count - 1
      if !isLastLevel && entry & (1 << 7) != 0 && !levels[level].allowsLeaf {
        return "reserved bit: PS set in an entry that cannot map a page"
      }
      let reservedHigh: UInt64 =
        f.maxPhysicalAddressBits >= 52
        ? 0 : ((1 << 52) - 1) & ~((1 << UInt64(f.maxPhysicalAddressBits)) - 1)
      if entry & reservedHigh != 0 { return "reserved bits above MAXPHYADDR set" }
      if f.kind(of: entry, level: level) == .leaf && !isLastLevel {
        // A large page's address bits below its size (above the PAT bit 12) are reserved.
        let low: UInt64 = ((1 << UInt64(levels[level].shift)) - 1) & ~0x1FFF
        if entry & low != 0 { return "reserved bits: large page address not aligned to its size" }
      }
    case .riscv:
      guard entry & 1 != 0 else { return nil }
      if entry & 0b110 == 0b100 { return "reserved encoding: W without R" }
      if entry & (0x7F << 54) != 0 { return "reserved bits 60:54 set" }
      if entry & 0b1110 == 0 && entry & 0b1101_0000 != 0 {
        return "reserved: D, A or U set in a pointer to a table"
      }
      if entry & 0b1110 != 0 && level < levels.count - 1 {
        let ppnLowBits = UInt64(levels[level].shift - 12)
        if (entry >> 10) & ((1 << ppnLowBits) - 1) != 0 { return "misaligned superpage" }
      }
    case .uat, .dart:
      break
    }
    return nil
  }
}

/// The flags of a leaf beyond its `Protection`.
public struct LeafFlags: Hashable, Sendable {
  /// The hardware has accessed the page (or the format has no such flag).
  public var accessed = false
  /// The hardware has written through the leaf since it was last cleaned.
  public var dirty = false
  /// The leaf is a member of a contiguous run (ARM64 contiguous hint, Svnapot).
  public var contiguous = false

  /// Makes one from its parts.
  public init(accessed: Bool = false, dirty: Bool = false, contiguous: Bool = false) {
    self.accessed = accessed
    self.dirty = dirty
    self.contiguous = contiguous
  }
}
