/// The ARM64 VMSAv8-64 translation table format: stage 1 (TTBR0/TTBR1) or stage 2
/// (VTTBR), with the 4K, 16K or 64K granule, 32- to 52-bit input and output sizes,
/// blocks, the Contiguous hint and hardware dirty state.
///
/// ```swift
/// let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 40)
/// let table = try PageTable(format: format, memory: image)
/// try table.map(virtualAddress: 0x4000_0000, physicalAddress: 0x8000_0000,
///               size: 1 << 30, protection: .readWrite)      // one 1 GiB block
/// // MAIR_EL1 = ARM64Format.mair; TCR_EL1.T0SZ = 64 - 48; TTBR0_EL1 = table.rootAddress()
/// ```
///
/// Source: Arm Architecture Reference Manual for A-profile (DDI 0487), chapter D8
/// "The AArch64 Virtual Memory System Architecture" — D8.3 (descriptor formats),
/// D8.4 (memory attributes), D8.5 (hardware dirty state), D8.6 (Contiguous bit) and
/// the pseudocode `AArch64.S1StartLevel`, `AArch64.S2InconsistentSL`,
/// `AArch64.BlockDescSupported`, `ContiguousSize`; Linux
/// `drivers/iommu/io-pgtable-arm.c` as a reading aid.
///
/// ## Entries
/// Bit 0 is valid; bit 1 is 1 for a table (levels above 3) or a page (level 3) and
/// 0 for a block. Leaves set AF (bit 10) unless ``Protection/accessed`` is false
/// (then TCR_ELx.HA or a fault handler sets it). The output address is
/// OA[47:pageShift] in place; with FEAT_LPA (64K granule, 52-bit output) OA[51:48]
/// lives in bits [15:12]; with FEAT_LPA2 (4K/16K with a 52-bit input or output size,
/// TCR_ELx.DS = 1) OA[49:pageShift] is in place and OA[51:50] lives in bits [9:8], so
/// entries carry no shareability: it comes from TCR_ELx.SH0/SH1 (or VTCR_EL2.SH0).
/// Table entries carry no hierarchical attributes (APTable, XNTable, … are 0).
///
/// ## Stage 1 attributes
/// AttrIndx[4:2] selects one of the memory types of ``mair``: 0 normal write-back,
/// 1 Device-nGnRE, 2 normal non-cacheable. AP[2] (bit 7) makes the page read-only,
/// AP[1] (bit 6) gives EL0 access; SH[9:8] is inner shareable for normal memory and
/// outer shareable otherwise; nG (bit 11) is set unless the protection is `global`;
/// PXN (53) and UXN (54) forbid execution at EL1 and EL0. A `user` page executes at
/// EL0 only (PXN always set); a privileged page never at EL0 (UXN always set). AP
/// cannot express a page without read access, so `read: false` is refused.
/// NS (bit 5) is left 0. ``Protection/attributeIndex`` selects any of the eight
/// MAIR attributes (describe them in ``MemoryAttributes``); such leaves are inner
/// shareable.
///
/// ## Stage 2 attributes
/// MemAttr[5:2] is the memory type itself (0b1111 normal write-back, 0b0101 normal
/// non-cacheable, 0b0001 Device-nGnRE, as with HCR_EL2.FWB = 0); S2AP[7:6] is
/// write (7) and read (6) permission, so write-only is expressible; XN (bit 54)
/// forbids execution; ``Protection/attributeIndex`` is MemAttr itself (0...15,
/// except the reserved Normal encodings 4, 8 and 12). Stage 2 has no EL0/EL1 distinction and no nG, so protections
/// with `user` or `global` set are refused, as are those with neither read nor write.
///
/// ## Software bits
/// Bits [58:55] are reserved for software at both stages (Arm ARM D8.3.2): they are
/// ``Protection/softwareBits`` 0...3; more bits are refused.
///
/// ## Activation
/// ``stage1Activation(rootAddress:asid:memoryAttributes:hardwareAccessFlag:)`` and
/// ``stage2Activation(rootAddress:vmid:hardwareAccessFlag:)`` give the TTBR, TCR and
/// MAIR (VTTBR, VTCR) values for a table of this format.
///
/// ## Contiguous hint and dirty state
/// Bit 52 marks a member of a naturally aligned contiguous set (``LevelGeometry/contiguousRun``):
/// 16 entries at every 4K level, 32 (L2) and 128 (L3) with 16K, 32 with 64K. With
/// `dirtyTracking` (FEAT_HAFDBS; set TCR_ELx.HD or VTCR_EL2.HD) writable leaves are
/// written writable-clean: DBM (bit 51) set and AP[2] set (stage 2: S2AP[1] clear);
/// the hardware makes them writable-dirty on the first store.
public struct ARM64Format: PageTableFormat {
  /// The translation granule.
  public let granule: Granule
  /// The translation stage.
  public let stage: Stage
  /// Input (virtual or intermediate physical) address bits: 64 − TxSZ.
  public let inputBits: Int
  /// Output (physical) address bits: TCR_ELx.{I}PS or VTCR_EL2.PS.
  public let outputBits: Int
  /// The stage-1 window the table serves (TTBR0 below, TTBR1 at the top).
  public let translationBase: TranslationBase
  /// Whether writable leaves are mapped writable-clean for hardware dirty tracking.
  public let dirtyTracking: Bool
  /// The architectural level of the root table (−1…3): what VTCR_EL2.SL0/SL2 must
  /// select at stage 2.
  public let startLevel: Int
  public let geometry: Geometry

  @usableFromInline let encoding: AddressEncoding
  /// Engine index of level 3.
  @usableFromInline let pageIndex: Int
  /// Bit `i` set when engine level `i` takes blocks.
  @usableFromInline let blockLevels: UInt8
  /// The output-address bits stored in place.
  @usableFromInline let addressMask: UInt64
  /// Every bit of an entry that holds output address.
  @usableFromInline let addressField: UInt64

  /// MAIR_ELx for stage-1 tables of this format: attribute 0 normal inner/outer
  /// write-back non-transient read/write-allocate (0xFF), attribute 1 Device-nGnRE
  /// (0x04), attribute 2 normal inner/outer non-cacheable (0x44).
  public static var mair: UInt64 { 0x44_04FF }

  /// Describes tables for one translation regime.
  ///
  /// - Parameters:
  ///   - granule: the translation granule.
  ///   - stage: stage 1 (the default) or stage 2.
  ///   - inputBits: 32…48, or 49…52 (64K granule with FEAT_LVA, or 4K/16K with
  ///     FEAT_LPA2).
  ///   - outputBits: 32, 36, 40, 42, 44, 48, or 52 (FEAT_LPA with 64K, FEAT_LPA2
  ///     with 4K/16K).
  ///   - translationBase: `.ttbr1` for the upper stage-1 window.
  ///   - dirtyTracking: map writable leaves writable-clean (FEAT_HAFDBS).
  /// - Throws: ``PageTableError/invalidConfiguration(_:)`` for a combination the
  ///   architecture does not define.
  public init(
    granule: Granule, stage: Stage = .one, inputBits: Int = 48, outputBits: Int = 48,
    translationBase: TranslationBase = .ttbr0, dirtyTracking: Bool = false
  ) throws(PageTableError) {
    guard inputBits >= 32 && inputBits <= 52 else {
      throw .invalidConfiguration("ARM64: input size must be 32 to 52 bits")
    }
    guard Self.outputSizes.contains(outputBits) else {
      throw .invalidConfiguration("ARM64: output size must be 32, 36, 40, 42, 44, 48 or 52 bits")
    }
    guard stage == .one || translationBase == .ttbr0 else {
      throw .invalidConfiguration("ARM64: stage 2 has a single (VTTBR) window")
    }
    self.granule = granule
    self.stage = stage
    self.inputBits = inputBits
    self.outputBits = outputBits
    self.translationBase = translationBase
    self.dirtyTracking = dirtyTracking

    let encoding: AddressEncoding
    if granule == .k64 {
      encoding = outputBits > 48 ? .lpa : .standard
    } else {
      encoding = inputBits > 48 || outputBits > 48 ? .lpa2 : .standard
    }
    self.encoding = encoding
    let start = Self.startLevel(granule: granule, stage: stage, inputBits: inputBits)
    self.startLevel = start
    let levels = Self.levels(
      granule: granule, startLevel: start, inputBits: inputBits, encoding: encoding,
      outputBits: outputBits)
    self.pageIndex = levels.count - 1
    var blocks: UInt8 = 0
    for i in 0..<levels.count - 1 where levels[i].allowsLeaf { blocks |= 1 << UInt8(i) }
    self.blockLevels = blocks

    let top: UInt64 = encoding == .lpa2 ? 50 : 48
    let inPlace = (1 << top) - granule.bytes
    self.addressMask = inPlace
    switch encoding {
    case .standard: self.addressField = inPlace
    case .lpa: self.addressField = inPlace | 0xF000
    case .lpa2: self.addressField = inPlace | 0x300
    }

    let window: VirtualWindow
    let span: UInt64 = 1 << UInt64(inputBits)
    switch translationBase {
    case .ttbr0: window = VirtualWindow(first: 0, last: span - 1)
    case .ttbr1: window = VirtualWindow(first: 0 &- span, last: ~0)
    }
    self.geometry = Geometry(levels: levels, windows: [window], outputBits: outputBits)
  }

  /// Whether entries use the FEAT_LPA2 layout (TCR_ELx.DS / VTCR_EL2.DS must be 1).
  public var usesLPA2: Bool { encoding == .lpa2 }
  /// Whether entries use the FEAT_LPA 52-bit layout of the 64K granule.
  public var usesLPA: Bool { encoding == .lpa }
  /// How many tables are concatenated at the root (1 unless stage 2 concatenates).
  public var concatenatedTables: Int {
    1 << max(0, geometry.levels[0].indexBits - granule.stride)
  }

  // MARK: Bits

  @usableFromInline static var valid: UInt64 { 1 << 0 }
  /// Table (levels above 3) or page (level 3); clear for a block.
  @usableFromInline static var tableOrPage: UInt64 { 1 << 1 }
  @usableFromInline static var accessFlag: UInt64 { 1 << 10 }
  @usableFromInline static var dirtyBitModifier: UInt64 { 1 << 51 }
  @usableFromInline static var contiguous: UInt64 { 1 << 52 }

  // MARK: Addresses

  /// The entry bits that hold `address` (aligned to the granule).
  @inlinable @inline(__always)
  func encodeAddress(_ address: UInt64) -> UInt64 {
    switch encoding {
    case .standard: return address & addressMask
    case .lpa: return (address & addressMask) | (address >> 48 & 0xF) << 12
    case .lpa2: return (address & addressMask) | (address >> 50 & 0x3) << 8
    }
  }

  /// The address an entry holds (a table's, or a leaf's first byte).
  @inlinable @inline(__always)
  func decodeAddress(_ entry: UInt64) -> UInt64 {
    switch encoding {
    case .standard: return entry & addressMask
    case .lpa: return (entry & addressMask) | (entry >> 12 & 0xF) << 48
    case .lpa2: return (entry & addressMask) | (entry >> 8 & 0x3) << 50
    }
  }

  /// log2 of the bytes a leaf at engine `level` maps.
  @inlinable @inline(__always)
  func leafShift(_ level: Int) -> Int {
    granule.pageShift &+ (pageIndex &- level) &* granule.stride
  }

  // MARK: PageTableFormat

  @inlinable @inline(__always)
  public func kind(of entry: UInt64, level: Int) -> EntryKind {
    guard entry & Self.valid != 0 else { return .empty }
    if level == pageIndex { return entry & Self.tableOrPage != 0 ? .leaf : .empty }
    if entry & Self.tableOrPage != 0 { return .table }
    // A block where the architecture has none is a translation fault.
    return blockLevels & (1 << UInt8(truncatingIfNeeded: level)) != 0 ? .leaf : .empty
  }

  @inlinable
  public func tableEntry(pointingTo physicalAddress: UInt64, level: Int) -> UInt64 {
    precondition(
      physicalAddress & (granule.bytes &- 1) == 0,
      "ARM64Format: a next-level table must be aligned to the granule")
    return encodeAddress(physicalAddress) | Self.tableOrPage | Self.valid
  }

  @inlinable
  public func tableAddress(of entry: UInt64, level: Int) -> UInt64 { decodeAddress(entry) }

  @inlinable
  public func leafEntry(template: UInt64, physicalAddress: UInt64, level: Int) -> UInt64 {
    template | encodeAddress(physicalAddress)
  }

  @inlinable @inline(__always)
  public func outputAddress(of entry: UInt64, level: Int, virtualAddress: UInt64) -> UInt64 {
    let offsetMask: UInt64 = (1 &<< UInt64(truncatingIfNeeded: leafShift(level))) &- 1
    return (decodeAddress(entry) & ~offsetMask) | (virtualAddress & offsetMask)
  }

  @inlinable
  public func contiguousEntry(_ entry: UInt64, level: Int, runAddress: UInt64) -> UInt64 {
    entry | Self.contiguous
  }

  @inlinable
  public func isContiguous(_ entry: UInt64, level: Int) -> Bool { entry & Self.contiguous != 0 }

  @inlinable
  public func breakingContiguity(_ entry: UInt64, level: Int, physicalAddress: UInt64) -> UInt64 {
    (entry & ~(Self.contiguous | addressField)) | encodeAddress(physicalAddress)
  }
}
