/// The RISC-V page-table format: Sv39, Sv48 and Sv57 (3, 4 or 5 levels of 4 KiB
/// tables), with the Svnapot (64 KiB runs) and Svpbmt (memory types) extensions.
///
/// ```swift
/// let format = RISCVFormat(.sv48)
/// let table = try PageTable(format: format, memory: ImageTableMemory(base: 0x8010_0000, byteCount: 1 << 20))
/// try table.map(virtualAddress: 0, physicalAddress: 0x8000_0000, size: 1 << 30,
///               protection: .readWrite)                       // one 1 GiB superpage
/// let satp = try format.satp(rootAddress: table.rootAddress(), asid: 1)
/// ```
///
/// Entry bits (RISC-V Instruction Set Manual, Volume II: Privileged Architecture,
/// "Supervisor-Level ISA", sections "Sv39", "Sv48", "Sv57", and the chapters
/// "Svnapot" and "Svpbmt"; checked against Linux
/// `drivers/iommu/generic_pt/fmt/riscv.h`): V[0], R[1], W[2], X[3], U[4], G[5],
/// A[6], D[7], RSW[9:8], PPN[53:10], PBMT[62:61], N[63]. An entry with R = W = X = 0
/// points at the next table; any of R, W, X makes it a leaf, at every level
/// (superpages of 2 MiB, 1 GiB, 512 GiB with Sv48+, 256 TiB with Sv57).
///
/// Choices this description makes:
/// - Virtual addresses are sign-extended from bit 38, 47 or 56: the geometry's two
///   windows are the lower and the upper half.
/// - Table entries are `V` and the table's PPN only (the spec reserves A, D, U
///   and PBMT in non-leaf entries).
/// - Write without read is reserved, and R = W = X = 0 would be a table pointer:
///   both are refused with ``PageTableError/unsupportedProtection(_:)``.
///   Execute-only is allowed.
/// - Leaves are written with A set and D clear. A hart with hardware A/D updating
///   (Svadu, and QEMU, which sets A and D itself) sets D on the first store; a
///   hart without it (Svade) faults and its handler sets D. Either way D is the
///   dirty state that ``PageTable/readAndClearDirty(virtualAddress:size:report:)``
///   reports and cleans. For a Svade hart whose software handles no such fault
///   (boot tables), make the format with `setsDirtyAtMap: true`: writable leaves
///   then carry D from the start and dirty tracking is off.
/// - Without Svpbmt only ``MemoryType/normal`` is expressible (the PMAs decide);
///   with it, normal is PBMT 0 (PMA), uncached 1 (NC), device 2 (IO).
/// - ``Protection/softwareBits`` 0–1 are RSW (bits 8–9, "reserved for use by
///   supervisor software"). ``Protection/attributeIndex`` is the PBMT value (0 PMA,
///   1 NC, 2 IO; 3 is reserved and refused; non-zero needs Svpbmt); it decodes as
///   the matching ``MemoryType``. ``Protection/accessed`` false leaves A clear:
///   the hart sets it (Svadu, `menvcfg.ADUE`) or raises a page fault (Svade).
/// - With Svnapot, 16 naturally aligned 4 KiB leaves mapping 64 KiB are written
///   as one NAPOT run: every member is identical, with N = 1 and PPN[3:0] = 0b1000.
public struct RISCVFormat: PageTableFormat {
  /// A RISC-V virtual-memory scheme (`satp.MODE`).
  public enum Mode: Hashable, Sendable, CaseIterable {
    /// 3 levels, 39-bit virtual addresses.
    case sv39
    /// 4 levels, 48-bit virtual addresses.
    case sv48
    /// 5 levels, 57-bit virtual addresses.
    case sv57

    /// Levels of tables.
    public var levels: Int {
      switch self {
      case .sv39: 3
      case .sv48: 4
      case .sv57: 5
      }
    }
    /// Virtual-address bits (the address is sign-extended above them).
    public var virtualAddressBits: Int { 12 + 9 * levels }
    /// The value of `satp.MODE` that selects this scheme.
    public var satpMode: UInt64 { UInt64(levels) + 5 }
  }

  /// The virtual-memory scheme.
  public let mode: Mode
  /// Whether 64 KiB NAPOT runs are written (the Svnapot extension).
  public let svnapot: Bool
  /// Whether leaves carry a memory type in PBMT (the Svpbmt extension).
  public let svpbmt: Bool
  /// Whether writable leaves are written with D already set (for harts without
  /// hardware A/D updating whose software does not handle the store fault).
  public let setsDirtyAtMap: Bool
  public let geometry: Geometry

  /// Makes a RISC-V format for `mode`.
  public init(
    _ mode: Mode, svnapot: Bool = true, svpbmt: Bool = false, setsDirtyAtMap: Bool = false
  ) {
    self.mode = mode
    self.svnapot = svnapot
    self.svpbmt = svpbmt
    self.setsDirtyAtMap = setsDirtyAtMap
    let levels = mode.levels
    var shape: [LevelGeometry] = []
    for level in 0..<levels {
      let fromBottom = levels - 1 - level
      shape.append(
        LevelGeometry(
          shift: 12 + 9 * fromBottom, indexBits: 9, allowsLeaf: true,
          contiguousRun: fromBottom == 0 && svnapot ? 16 : 1))
    }
    let half: UInt64 = 1 << UInt64(mode.virtualAddressBits - 1)
    self.geometry = Geometry(
      levels: shape,
      windows: [
        VirtualWindow(first: 0, last: half - 1), VirtualWindow(first: ~(half - 1), last: ~0),
      ],
      outputBits: 56)
  }

  // Entry bits.
  @usableFromInline static var valid: UInt64 { 1 << 0 }
  @usableFromInline static var readable: UInt64 { 1 << 1 }
  @usableFromInline static var writable: UInt64 { 1 << 2 }
  @usableFromInline static var executable: UInt64 { 1 << 3 }
  static var user: UInt64 { 1 << 4 }
  static var global: UInt64 { 1 << 5 }
  static var accessed: UInt64 { 1 << 6 }
  static var dirty: UInt64 { 1 << 7 }
  /// PPN[53:10]: the physical page number (physical address bits [55:12]).
  @usableFromInline static var ppnField: UInt64 { ((1 << 44) - 1) << 10 }
  /// PBMT = 1: non-cacheable, idempotent, weakly ordered main memory.
  static var nonCacheable: UInt64 { 1 << 61 }
  /// PBMT = 2: non-cacheable, non-idempotent, strongly ordered I/O.
  static var io: UInt64 { 1 << 62 }
  @usableFromInline static var napot: UInt64 { 1 << 63 }
  /// RSW, bits 8–9: reserved for supervisor software.
  static var softwareShift: UInt64 { 8 }
  /// The ``Protection/softwareBits`` an entry can hold (2: RSW).
  public static var softwareBitMask: UInt16 { 0b11 }
  /// PPN[3:0] = 0b1000: the size encoding of a 64 KiB NAPOT run.
  static var napot64K: UInt64 { 0b1000 << 10 }

  @inlinable @inline(__always)
  func isPageLevel(_ level: Int) -> Bool { level == mode.levels - 1 }

  /// Physical address bits [55:12] of an entry, as an address.
  @inlinable @inline(__always)
  static func pageAddress(_ entry: UInt64) -> UInt64 { (entry & ppnField) << 2 }
  /// `physicalAddress` in the PPN field.
  @inlinable @inline(__always)
  static func ppn(_ physicalAddress: UInt64) -> UInt64 { (physicalAddress >> 2) & ppnField }

  @inlinable @inline(__always)
  public func kind(of entry: UInt64, level: Int) -> EntryKind {
    guard entry & Self.valid != 0 else { return .empty }
    return entry & (Self.readable | Self.writable | Self.executable) != 0 ? .leaf : .table
  }

  @inlinable
  public func tableEntry(pointingTo physicalAddress: UInt64, level: Int) -> UInt64 {
    Self.ppn(physicalAddress) | Self.valid
  }

  @inlinable
  public func tableAddress(of entry: UInt64, level: Int) -> UInt64 { Self.pageAddress(entry) }

  public func leafTemplate(for protection: Protection, level: Int) throws(PageTableError)
    -> UInt64
  {
    let pbmt = protection.attributeIndex ?? Self.pbmt(protection.memoryType)
    guard protection.read || (protection.execute && !protection.write),
      pbmt == 0 || (svpbmt && pbmt < 3), protection.softwareBits & ~Self.softwareBitMask == 0
    else { throw .unsupportedProtection(protection) }
    var entry = Self.valid | UInt64(protection.softwareBits) << Self.softwareShift
    if protection.accessed { entry |= Self.accessed }
    if protection.read { entry |= Self.readable }
    if protection.write { entry |= Self.writable | (setsDirtyAtMap ? Self.dirty : 0) }
    if protection.execute { entry |= Self.executable }
    if protection.user { entry |= Self.user }
    if protection.global { entry |= Self.global }
    return entry | UInt64(pbmt) << 61
  }

  /// The PBMT value of a memory type (Svpbmt: 0 PMA, 1 NC, 2 IO).
  static func pbmt(_ type: MemoryType) -> UInt8 {
    switch type {
    case .normal: 0
    case .uncached: 1
    case .device: 2
    }
  }

  @inlinable @inline(__always)
  public func leafEntry(template: UInt64, physicalAddress: UInt64, level: Int) -> UInt64 {
    template | Self.ppn(physicalAddress)
  }

  @inlinable @inline(__always)
  public func outputAddress(of entry: UInt64, level: Int, virtualAddress: UInt64) -> UInt64 {
    // A NAPOT member's PPN[3:0] is the size encoding: the address comes from the
    // run's base and the virtual address's low 16 bits.
    let offsetBits =
      isPageLevel(level) && entry & Self.napot != 0 ? 16 : 12 + 9 * (mode.levels - 1 - level)
    let offsetMask: UInt64 = (1 &<< UInt64(truncatingIfNeeded: offsetBits)) &- 1
    return (Self.pageAddress(entry) & ~offsetMask) | (virtualAddress & offsetMask)
  }

  public func protection(of entry: UInt64, level: Int) -> Protection {
    let memoryType: MemoryType
    switch entry & (Self.nonCacheable | Self.io) {
    case 0: memoryType = .normal
    case Self.nonCacheable: memoryType = .uncached
    default: memoryType = .device  // IO, or the reserved PBMT 3
    }
    return Protection(
      read: entry & Self.readable != 0, write: entry & Self.writable != 0,
      execute: entry & Self.executable != 0, user: entry & Self.user != 0,
      global: entry & Self.global != 0, memoryType: memoryType,
      softwareBits: UInt16(truncatingIfNeeded: entry >> Self.softwareShift) & Self.softwareBitMask,
      accessed: entry & Self.accessed != 0)
  }

  public func contiguousEntry(_ entry: UInt64, level: Int, runAddress: UInt64) -> UInt64 {
    (entry & ~Self.ppnField) | Self.ppn(runAddress) | Self.napot64K | Self.napot
  }

  public func isContiguous(_ entry: UInt64, level: Int) -> Bool {
    isPageLevel(level) && entry & Self.napot != 0
  }

  public func breakingContiguity(_ entry: UInt64, level: Int, physicalAddress: UInt64) -> UInt64 {
    (entry & ~(Self.ppnField | Self.napot)) | Self.ppn(physicalAddress)
  }

  public var tracksDirtyState: Bool { !setsDirtyAtMap }
  public func isDirty(_ entry: UInt64, level: Int) -> Bool { entry & Self.dirty != 0 }
  public func cleaned(_ entry: UInt64, level: Int) -> UInt64 { entry & ~Self.dirty }

  /// The `satp` value that makes the hart walk the table whose root is at
  /// `rootAddress`: MODE[63:60] (8 Sv39, 9 Sv48, 10 Sv57), ASID[59:44],
  /// PPN[43:0].
  ///
  /// - Throws: ``PageTableError/misalignedPhysicalAddress(_:)`` if the root is not
  ///   4 KiB aligned, ``PageTableError/physicalAddressOutOfRange(_:)`` if it is at
  ///   or above 2^56.
  public func satp(rootAddress: UInt64, asid: UInt16 = 0) throws(PageTableError) -> UInt64 {
    guard rootAddress & 0xFFF == 0 else { throw .misalignedPhysicalAddress(rootAddress) }
    guard rootAddress >> 56 == 0 else { throw .physicalAddressOutOfRange(rootAddress) }
    return mode.satpMode << 60 | UInt64(asid) << 44 | rootAddress >> 12
  }
}
