/// The x86-64 page-table format: 4-level paging (48-bit virtual addresses) and
/// 5-level paging (57-bit, `CR4.LA57`), as the CPU, AMD's IOMMU (v2 tables) and
/// Intel VT-d first-stage tables read it.
///
/// ```swift
/// let format = try X86_64Format(levels: 4)
/// let table = try PageTable(format: format, memory: ImageTableMemory(base: 0x10_0000, byteCount: 1 << 20))
/// try table.map(virtualAddress: 0xffff_8000_0000_0000, physicalAddress: 0,
///               size: 1 << 30, protection: .readWrite)        // one 1 GiB page
/// let cr3 = try format.cr3(rootAddress: table.rootAddress())
/// ```
///
/// Entry bits (Intel SDM vol. 3A, chapter 4 "Paging", section "4-Level Paging and
/// 5-Level Paging" and its entry-format tables; AMD APM vol. 2, section "Long-Mode
/// Page Translation"; checked against Linux `drivers/iommu/generic_pt/fmt/x86_64.h`):
/// P[0], R/W[1], U/S[2], PWT[3], PCD[4], A[5], D[6], PS[7] in a PDPTE or PDE
/// (a 1 GiB or 2 MiB page) and PAT[7] in a PTE, G[8], the address in
/// [MAXPHYADDR-1:12] (from bit 30 or 21 for large pages, whose PAT bit moves to
/// bit 12), XD[63].
///
/// Choices this description makes:
/// - Virtual addresses are canonical: the geometry's two windows are the lower
///   half `[0, 2^47)` and the upper half `[2^64 - 2^47, 2^64)` (2^56 with 5 levels).
/// - Table entries are `P | R/W | U/S | A` (as Linux's generic_pt writes them):
///   the most permissive, so the leaf alone decides. Leaves are written with A set
///   (the CPU never needs to set it) and D clear: the CPU sets D on the first
///   write, which is the dirty state ``PageTable/readAndClearDirty(virtualAddress:size:report:)``
///   reports and cleans.
/// - A present x86 page is always readable: a protection without `read` is refused
///   with ``PageTableError/unsupportedProtection(_:)``. Without `EFER.NXE`
///   (`noExecute: false`) every page is executable, so a protection without
///   `execute` is refused too rather than mapped executable.
/// - ``Protection/softwareBits`` 0–2 are the ignored bits 9–11 and 3–9 the ignored
///   bits 52–58 (SDM tables 4-18 to 4-20: "Ignored"; bits 59–62 are protection
///   keys with CR4.PKE and are not used). ``Protection/attributeIndex`` is the PAT
///   index (0...7, PAT:PCD:PWT); ``Protection/accessed`` false leaves A clear for
///   the CPU to set on first access.
/// - Memory types are encoded through a ``PATLayout``: the PAT index a leaf's
///   PWT, PCD and PAT bits select, and the `IA32_PAT` MSR value that layout
///   assumes (``PATLayout/msrValue``).
public struct X86_64Format: PageTableFormat {
  /// Paging levels: 4 (48-bit virtual addresses) or 5 (57-bit, `CR4.LA57`).
  public let levels: Int
  /// MAXPHYADDR, the physical-address width (`CPUID.80000008H:EAX[7:0]`), 36 to 52.
  public let maxPhysicalAddressBits: Int
  /// Whether `IA32_EFER.NXE` is set, so the XD bit (63) can forbid instruction fetch.
  public let noExecute: Bool
  /// Whether 1 GiB pages may be mapped (`CPUID.80000001H:EDX.Page1GB`).
  public let gigabytePages: Bool
  /// Which PAT entries encode the memory types.
  public let pat: PATLayout
  public let geometry: Geometry

  /// The physical-address field of an entry: bits [MAXPHYADDR-1:12].
  @usableFromInline let addressMask: UInt64

  /// Makes an x86-64 format.
  ///
  /// - Throws: ``PageTableError/invalidConfiguration(_:)`` if `levels` is not 4 or
  ///   5, or `maxPhysicalAddressBits` is outside 36...52.
  public init(
    levels: Int = 4, maxPhysicalAddressBits: Int = 52, noExecute: Bool = true,
    gigabytePages: Bool = true, pat: PATLayout = .powerOnDefault
  ) throws(PageTableError) {
    guard levels == 4 || levels == 5 else {
      throw .invalidConfiguration("x86-64 paging has 4 or 5 levels")
    }
    guard (36...52).contains(maxPhysicalAddressBits) else {
      throw .invalidConfiguration("x86-64 MAXPHYADDR is 36 to 52 bits")
    }
    self.levels = levels
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    self.noExecute = noExecute
    self.gigabytePages = gigabytePages
    self.pat = pat
    self.addressMask = ((1 << UInt64(maxPhysicalAddressBits)) - 1) & ~0xFFF
    var shape: [LevelGeometry] = []
    for level in 0..<levels {
      let fromBottom = levels - 1 - level
      shape.append(
        LevelGeometry(
          shift: 12 + 9 * fromBottom, indexBits: 9,
          allowsLeaf: fromBottom < 2 || (fromBottom == 2 && gigabytePages)))
    }
    let half: UInt64 = 1 << UInt64(levels == 4 ? 47 : 56)
    self.geometry = Geometry(
      levels: shape,
      windows: [
        VirtualWindow(first: 0, last: half - 1), VirtualWindow(first: ~(half - 1), last: ~0),
      ],
      outputBits: maxPhysicalAddressBits)
  }

  // Entry bits.
  @usableFromInline static var present: UInt64 { 1 << 0 }
  static var writable: UInt64 { 1 << 1 }
  static var user: UInt64 { 1 << 2 }
  static var writeThrough: UInt64 { 1 << 3 }
  static var cacheDisable: UInt64 { 1 << 4 }
  static var accessed: UInt64 { 1 << 5 }
  static var dirty: UInt64 { 1 << 6 }
  /// PS in a PDPTE or PDE; PAT in a PTE.
  @usableFromInline static var pageSize: UInt64 { 1 << 7 }
  static var global: UInt64 { 1 << 8 }
  /// PAT in a 1 GiB or 2 MiB page.
  static var largePAT: UInt64 { 1 << 12 }
  static var executeDisable: UInt64 { 1 << 63 }
  /// The ``Protection/softwareBits`` an entry can hold (10: bits 9–11 and 52–58).
  public static var softwareBitMask: UInt16 { 0x3FF }

  /// Software bits 0–2 in entry bits 9–11, 3–9 in entry bits 52–58.
  @inline(__always)
  static func encodeSoftwareBits(_ bits: UInt16) -> UInt64 {
    UInt64(bits & 0b111) << 9 | UInt64(bits >> 3 & 0x7F) << 52
  }

  @inline(__always)
  static func decodeSoftwareBits(_ entry: UInt64) -> UInt16 {
    UInt16(truncatingIfNeeded: entry >> 9 & 0b111 | (entry >> 52 & 0x7F) << 3)
  }

  /// Whether `level` is the last one (PTEs, 4 KiB pages).
  @inlinable @inline(__always)
  func isPageLevel(_ level: Int) -> Bool { level == levels - 1 }

  /// The PAT bit of a leaf at `level`.
  @inline(__always)
  func patBit(_ level: Int) -> UInt64 { isPageLevel(level) ? Self.pageSize : Self.largePAT }

  @inlinable @inline(__always)
  public func kind(of entry: UInt64, level: Int) -> EntryKind {
    guard entry & Self.present != 0 else { return .empty }
    if isPageLevel(level) || (level >= levels - 3 && entry & Self.pageSize != 0) { return .leaf }
    return .table
  }

  public func tableEntry(pointingTo physicalAddress: UInt64, level: Int) -> UInt64 {
    (physicalAddress & addressMask) | Self.present | Self.writable | Self.user | Self.accessed
  }

  @inlinable
  public func tableAddress(of entry: UInt64, level: Int) -> UInt64 { entry & addressMask }

  public func leafTemplate(for protection: Protection, level: Int) throws(PageTableError)
    -> UInt64
  {
    guard protection.read, protection.execute || noExecute,
      protection.softwareBits & ~Self.softwareBitMask == 0, protection.attributeIndex ?? 0 < 8
    else {
      throw .unsupportedProtection(protection)
    }
    var entry = Self.present | Self.encodeSoftwareBits(protection.softwareBits)
    if protection.accessed { entry |= Self.accessed }
    if protection.write { entry |= Self.writable }
    if protection.user { entry |= Self.user }
    if protection.global { entry |= Self.global }
    if !protection.execute { entry |= Self.executeDisable }
    if !isPageLevel(level) { entry |= Self.pageSize }
    let index = protection.attributeIndex.map { Int($0) } ?? pat.index(for: protection.memoryType)
    if index & 1 != 0 { entry |= Self.writeThrough }
    if index & 2 != 0 { entry |= Self.cacheDisable }
    if index & 4 != 0 { entry |= patBit(level) }
    return entry
  }

  @inlinable @inline(__always)
  public func leafEntry(template: UInt64, physicalAddress: UInt64, level: Int) -> UInt64 {
    template | (physicalAddress & addressMask)
  }

  @inlinable @inline(__always)
  public func outputAddress(of entry: UInt64, level: Int, virtualAddress: UInt64) -> UInt64 {
    let offsetMask: UInt64 =
      (1 &<< UInt64(truncatingIfNeeded: 12 &+ 9 &* (levels &- 1 &- level))) &- 1
    return (entry & addressMask & ~offsetMask) | (virtualAddress & offsetMask)
  }

  public func protection(of entry: UInt64, level: Int) -> Protection {
    var index = 0
    if entry & Self.writeThrough != 0 { index |= 1 }
    if entry & Self.cacheDisable != 0 { index |= 2 }
    if entry & patBit(level) != 0 { index |= 4 }
    let memoryType = pat.memoryType(atIndex: index)
    return Protection(
      read: true, write: entry & Self.writable != 0,
      execute: !noExecute || entry & Self.executeDisable == 0, user: entry & Self.user != 0,
      global: entry & Self.global != 0, memoryType: memoryType,
      softwareBits: Self.decodeSoftwareBits(entry),
      attributeIndex: index == pat.index(for: memoryType) ? nil : UInt8(index),
      accessed: entry & Self.accessed != 0)
  }

  public var tracksDirtyState: Bool { true }
  public func isDirty(_ entry: UInt64, level: Int) -> Bool { entry & Self.dirty != 0 }
  public func cleaned(_ entry: UInt64, level: Int) -> UInt64 { entry & ~Self.dirty }

  /// The `CR3` value that makes the CPU walk the table whose root is at
  /// `rootAddress`: the root's address in bits [MAXPHYADDR-1:12] and, with
  /// `CR4.PCIDE` set, the process-context identifier in bits [11:0] (PWT and PCD
  /// of the root stay 0: write-back).
  ///
  /// - Throws: ``PageTableError/misalignedPhysicalAddress(_:)`` if the root is not
  ///   4 KiB aligned, ``PageTableError/physicalAddressOutOfRange(_:)`` if it is above
  ///   MAXPHYADDR, ``PageTableError/invalidConfiguration(_:)`` if `pcid` exceeds 12 bits.
  public func cr3(rootAddress: UInt64, pcid: UInt16 = 0) throws(PageTableError) -> UInt64 {
    guard rootAddress & 0xFFF == 0 else { throw .misalignedPhysicalAddress(rootAddress) }
    guard rootAddress & ~addressMask == 0 else { throw .physicalAddressOutOfRange(rootAddress) }
    guard pcid <= 0xFFF else { throw .invalidConfiguration("a PCID has 12 bits") }
    return rootAddress | UInt64(pcid)
  }
}
