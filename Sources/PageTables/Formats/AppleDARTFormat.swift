/// The page-table format of Apple's DART, the IOMMU in front of most devices on
/// Apple silicon (DART1: t8020 and M1's t8103; DART2: t6000 and later).
///
/// ```swift
/// let format = try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32)  // 4 roots
/// let table = try PageTable(format: format,
///                           memory: ImageTableMemory(base: 0x8_0000_0000, byteCount: 1 << 20))
/// try table.map(virtualAddress: 0xC000_0000, physicalAddress: 0x8_2000_0000,
///               size: 0x1000, protection: .readWrite)
/// let ttbr3 = table.rootAddress(3)        // VA[31:30] = 3 selects the fourth TTBR
/// ```
///
/// Bits from Linux `drivers/iommu/io-pgtable-dart.c` (mainline, with the
/// multi-level support and the DART1-only `SP_DIS` fix of 2025):
/// - Granule 4 KiB or 16 KiB; every table is one granule of 8-byte entries; only
///   the last level maps pages (no blocks).
/// - Levels and roots from the input size exactly as `dart_alloc_pgtable` derives
///   them: with `b` index bits per level and `v = inputBits - pageShift`, there
///   are `max(2, ceil((v - t) / b))` levels (at most 3), where `t` is
///   `DART_MAX_TABLE_BITS = 2` for 4 KiB granules and 0 for 16 KiB ones, and
///   `max(0, v - b * levels)` bits above the root select one of up to four root
///   tables (the DART's TTBRs). The input size must not exceed the output size.
/// - Entry: valid [0]. DART1: address [35:12] (36-bit output), `NO_WRITE` [7],
///   `NO_READ` [8], `SP_DIS` [1] (set on every leaf). DART2: the address shifted
///   right by 4 in [37:10] (42-bit output, physical bits [41:14]), `NO_CACHE` [1],
///   `NO_WRITE` [2], `NO_READ` [3]. Leaves set the sub-page range to the whole
///   page: start [63:52] = 0, end [51:40] = 0xfff. A table entry is the table's
///   address in the same encoding plus the valid bit.
///
/// Choices this description makes:
/// - DART2 with 4 KiB granules is refused: its address field starts at physical
///   bit 14, so it cannot hold a 4 KiB-aligned page or table (Linux accepts the
///   configuration, but no DART2 uses it).
/// - A DART has no execute permission, no privilege levels and no ASIDs (each
///   stream has its own TTBRs): ``Protection/execute``, ``Protection/user`` and
///   ``Protection/global`` must be false, so that what a walk reports is what was
///   mapped. A device can fetch from any readable page: map code as read-only.
/// - Read and write are `NO_READ`/`NO_WRITE`; write-only is allowed, no access is
///   refused (as `dart_map_pages` does).
/// - DART1 has no cache control: only ``MemoryType/normal``. DART2 maps normal
///   memory with `NO_CACHE` clear (`IOMMU_CACHE`) and ``MemoryType/uncached`` with
///   it set; ``MemoryType/device`` is refused (map MMIO as uncached).
/// - The entry has no memory-attribute index, no access flag and no bits
///   documented as ignored by the hardware: ``Protection/softwareBits``,
///   ``Protection/attributeIndex`` and ``Protection/accessed`` false are refused.
/// - TLB: nothing is needed after a map; after an unmap, invalidate the stream's
///   TLB (the DART flushes per stream, not per range).
public struct AppleDARTFormat: PageTableFormat {
  /// The entry layout generation.
  public enum Version: Hashable, Sendable, CaseIterable {
    /// t8020, t8103 (M1): 36-bit output, permissions in bits 7 and 8.
    case dart1
    /// t6000 (M1 Pro/Max) and later: 42-bit output stored shifted right by 4,
    /// permissions and cache control in bits 1 to 3.
    case dart2

    /// Physical (output) address bits.
    public var outputBits: Int {
      switch self {
      case .dart1: 36
      case .dart2: 42
      }
    }
  }

  /// The DART's page size (and table size).
  public enum Granule: Hashable, Sendable, CaseIterable {
    /// 4 KiB pages and tables (512 entries).
    case k4
    /// 16 KiB pages and tables (2048 entries).
    case k16

    /// log2 of the page size.
    public var pageShift: Int {
      switch self {
      case .k4: 12
      case .k16: 14
      }
    }
  }

  /// The entry layout generation.
  public let version: Version
  /// The page and table size.
  public let granule: Granule
  /// Input (IOVA) bits.
  public let inputBits: Int
  /// Two or three levels of granule-sized tables, up to four roots, over 0 ..< 2^inputBits.
  public let geometry: Geometry
  /// Bits of an entry that hold an address (after DART2's shift).
  let addressMask: UInt64
  /// How far right a physical address is shifted into an entry.
  let addressShift: UInt64
  /// The offset bits inside a page.
  let pageMask: UInt64
  /// The level whose entries map pages.
  let leafLevel: Int

  /// Makes a DART format.
  /// - Throws: ``PageTableError/invalidConfiguration(_:)`` for DART2 with 4 KiB
  ///   granules, an input size above the output size or not above the page
  ///   size, and an input size that needs more than 3 levels or 4 roots.
  public init(version: Version, granule: Granule, inputBits: Int) throws(PageTableError) {
    let pageShift = granule.pageShift
    guard version == .dart1 || granule == .k16 else {
      throw .invalidConfiguration(
        "AppleDART: DART2 entries cannot address 4 KiB pages (the address field starts at bit 14)")
    }
    guard inputBits > pageShift, inputBits <= version.outputBits else {
      throw .invalidConfiguration(
        "AppleDART: input bits must be \(pageShift + 1)...\(version.outputBits), not \(inputBits)")
    }
    let bitsPerLevel = pageShift - 3
    let vaBits = inputBits - pageShift
    let maxTableBits = granule == .k4 ? 2 : 0
    let levelCount = max(2, (vaBits - maxTableBits + bitsPerLevel - 1) / bitsPerLevel)
    let tableBits = max(0, vaBits - bitsPerLevel * levelCount)
    guard levelCount <= 3, tableBits <= maxTableBits else {
      throw .invalidConfiguration(
        "AppleDART: \(inputBits) input bits need more than 3 levels or \(1 << maxTableBits) roots")
    }
    self.version = version
    self.granule = granule
    self.inputBits = inputBits
    self.pageMask = (1 << UInt64(pageShift)) - 1
    self.leafLevel = levelCount - 1
    var levels: [LevelGeometry] = []
    for level in 0..<levelCount {
      levels.append(
        LevelGeometry(
          shift: pageShift + (levelCount - 1 - level) * bitsPerLevel, indexBits: bitsPerLevel,
          allowsLeaf: level == levelCount - 1))
    }
    self.geometry = Geometry(
      levels: levels, windows: [VirtualWindow(first: 0, last: (1 << UInt64(inputBits)) - 1)],
      rootSelectBits: tableBits, outputBits: version.outputBits)
    switch version {
    case .dart1:
      addressMask = 0x0000_000F_FFFF_F000  // GENMASK(35, 12)
      addressShift = 0
    case .dart2:
      addressMask = 0x0000_003F_FFFF_FC00  // GENMASK(37, 10)
      addressShift = 4
    }
  }

  // MARK: Bits

  /// The entry is valid (`APPLE_DART_PTE_VALID`).
  static var validBit: UInt64 { 1 << 0 }
  /// Sub-page protection: start [63:52] = 0, end [51:40] = 0xfff (the whole page).
  static var wholePageSubrange: UInt64 { 0xfff << 40 }
  /// DART1: sub-page protection disabled (`APPLE_DART1_PTE_PROT_SP_DIS`).
  static var dart1SubpageDisable: UInt64 { 1 << 1 }
  /// DART1: no store (`APPLE_DART1_PTE_PROT_NO_WRITE`).
  static var dart1NoWrite: UInt64 { 1 << 7 }
  /// DART1: no load (`APPLE_DART1_PTE_PROT_NO_READ`).
  static var dart1NoRead: UInt64 { 1 << 8 }
  /// DART2: not cached (`APPLE_DART2_PTE_PROT_NO_CACHE`).
  static var dart2NoCache: UInt64 { 1 << 1 }
  /// DART2: no store (`APPLE_DART2_PTE_PROT_NO_WRITE`).
  static var dart2NoWrite: UInt64 { 1 << 2 }
  /// DART2: no load (`APPLE_DART2_PTE_PROT_NO_READ`).
  static var dart2NoRead: UInt64 { 1 << 3 }

  var noRead: UInt64 { version == .dart1 ? Self.dart1NoRead : Self.dart2NoRead }
  var noWrite: UInt64 { version == .dart1 ? Self.dart1NoWrite : Self.dart2NoWrite }

  /// A physical address in the entry's address encoding.
  @inline(__always)
  func encode(_ physicalAddress: UInt64) -> UInt64 {
    (physicalAddress >> addressShift) & addressMask
  }

  // MARK: Entries

  public func kind(of entry: UInt64, level: Int) -> EntryKind {
    guard entry & Self.validBit != 0 else { return .empty }
    return level == leafLevel ? .leaf : .table
  }

  public func tableEntry(pointingTo physicalAddress: UInt64, level: Int) -> UInt64 {
    encode(physicalAddress) | Self.validBit
  }

  public func tableAddress(of entry: UInt64, level: Int) -> UInt64 {
    (entry & addressMask) << addressShift
  }

  /// The leaf bits for `protection`: valid, the whole-page sub-page range,
  /// `SP_DIS` (DART1), `NO_READ`/`NO_WRITE` and `NO_CACHE` (DART2).
  /// - Throws: ``PageTableError/unsupportedProtection(_:)`` for what a DART cannot
  ///   express (see the type's "Choices").
  public func leafTemplate(for protection: Protection, level: Int) throws(PageTableError)
    -> UInt64
  {
    guard protection.read || protection.write, !protection.execute, !protection.user,
      !protection.global, protection.hasOnlyBasicAttributes
    else { throw .unsupportedProtection(protection) }
    var bits = Self.validBit | Self.wholePageSubrange
    if !protection.read { bits |= noRead }
    if !protection.write { bits |= noWrite }
    switch (version, protection.memoryType) {
    case (.dart1, .normal): bits |= Self.dart1SubpageDisable
    case (.dart2, .normal): break
    case (.dart2, .uncached): bits |= Self.dart2NoCache
    default: throw .unsupportedProtection(protection)
    }
    return bits
  }

  public func leafEntry(template: UInt64, physicalAddress: UInt64, level: Int) -> UInt64 {
    template | encode(physicalAddress)
  }

  public func outputAddress(of entry: UInt64, level: Int, virtualAddress: UInt64) -> UInt64 {
    tableAddress(of: entry, level: level) | (virtualAddress & pageMask)
  }

  /// The protection a leaf grants: the inverse of ``leafTemplate(for:level:)``.
  public func protection(of entry: UInt64, level: Int) -> Protection {
    let uncached = version == .dart2 && entry & Self.dart2NoCache != 0
    return Protection(
      read: entry & noRead == 0, write: entry & noWrite == 0,
      memoryType: uncached ? .uncached : .normal)
  }
}
