import Synchronization

/// A hardware page table: a tree of tables in ``TableMemory``, shaped and encoded
/// by a ``PageTableFormat``.
///
/// ```swift
/// let table = try PageTable(format: ARM64Format(granule: .k4, inputBits: 48),
///                           memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20))
/// try table.map(virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
///               size: 0x20_0000, protection: .readWrite)        // one 2 MiB block
/// table.translate(0x20_1234)?.physicalAddress                   // 0x8020_1234
/// var gather = TLBGather(invalidator: myTLB)
/// try table.unmap(virtualAddress: 0x20_0000, size: 0x20_0000, gather: &gather)
/// table.flush(&gather)                                          // TLBI, then free tables
/// ```
///
/// ## Concurrency
/// `map` (single-range and scatter-gather), `unmap`, `protect`, `split(at:)`,
/// `translate`, walks and `readAndClearDirty` may run on several threads at once
/// on *disjoint* virtual ranges (for `protect` and `unmap`, a block that the range
/// cuts belongs to the range; for `split(at:)`, the block or run holding the
/// address); no global lock is taken. A new
/// table is installed with compare-and-swap (the loser frees its own); each table's
/// live-entry count lives in its bookkeeping word, and a table whose count drops to
/// zero is marked dead with compare-and-swap before it is unlinked, so a racing
/// mapper sees the mark and walks again from the root. Unlinked tables are freed
/// only after ``flush(_:)`` invalidated the TLB *and* every operation that could
/// still hold a pointer to them has finished (epoch-based reclamation: each
/// operation announces itself in a per-thread reader slot, so readers share no
/// written cache line; at most ``maximumWaitingTables`` wait, whatever readers do).
/// Operations on overlapping ranges must be serialised by the caller, as with every
/// hardware page-table library. A table used by one owner at a time can be an
/// ``ExclusivePageTable`` instead (`ExclusivePageTable(consume table)`), whose
/// operations need none of these atomics.
///
/// ## Live tables
/// Every operation is safe on a table the hardware is using. Only splitting a
/// block, breaking a contiguous run and `protect` replace valid entries; they follow
/// the format's ``LiveEntryRule`` (on ARM64 without FEAT_BBM level 2 the split
/// block's range faults briefly), invalidating through the gather as they go.
///
/// ## Invariants
/// - A table's bookkeeping word counts its non-empty entries (plus in-flight
///   reservations of mappers about to fill entries); bit 63 marks it dead.
/// - A dead table is unreachable from the roots or about to be; it is freed only
///   through the reclamation list.
/// - Roots are never freed before `deinit`.
public final class PageTable<Format: PageTableFormat, Memory: TableMemory>: PageTableReclaimer,
  @unchecked Sendable
{
  /// The format description.
  public let format: Format
  /// The memory that holds the tables.
  public let memory: Memory
  /// The options the table was made with.
  public let options: PageTableOptions

  @usableFromInline let levels: InlineArray<6, LevelGeometry>
  /// The levels' derived values for the hot paths (see ``plan(_:)``).
  @usableFromInline let plans: InlineArray<6, LevelPlan>
  @usableFromInline let levelCount: Int
  @usableFromInline let indexMask: UInt64
  @usableFromInline let rootCoverageBits: Int
  @usableFromInline let granule: UInt64
  /// The format's windows, as plain values (the second equals the first when the
  /// format has one).
  @usableFromInline let firstWindow: VirtualWindow
  @usableFromInline let secondWindow: VirtualWindow
  @usableFromInline let hasTwoWindows: Bool
  @usableFromInline let outputLimit: UInt64
  @usableFromInline let rootTables: InlineArray<4, UInt64>
  /// Number of root tables.
  public let rootCount: Int
  /// Bytes allocated for each root table.
  @usableFromInline let rootBytes: Int
  /// Whether blocks are split and runs broken with break-before-make (the format's
  /// rule, unless the options declare FEAT_BBM level 2).
  let breaksBeforeMake: Bool
  /// Whether each new table's address is checked against what the format's table
  /// entries can hold (the memory did not say its range up front).
  @usableFromInline let checksEachTable: Bool
  /// How the hot paths reach the tree (``TableAccess``): shared, unless an
  /// ``ExclusivePageTable`` owns the table. Changed only while the table is
  /// uniquely referenced (so no operation is in flight).
  @exclusivity(unchecked) @usableFromInline var access = TableAccess.shared

  // Reclamation (Reclamation.swift): the epoch, the operations in flight, one
  // reader slot each, and the unlinked tables waiting for them to finish.
  @usableFromInline let epoch = Atomic<UInt64>(1)
  @usableFromInline let readers = ReaderSlots()
  let retiredCount = Atomic<Int>(0)
  let retiredLock = SpinLock()
  var retired: [RetiredTable] = []

  /// Creates an empty table: allocates the root table(s), nothing else.
  public convenience init(
    format: Format, memory: Memory, options: PageTableOptions = PageTableOptions()
  ) throws(PageTableError) {
    let geometry = format.geometry
    try geometry.validate()
    // Roots are allocated before the designated initializer runs, so a failure never
    // has to destroy a partly initialized table (whose atomics trip the optimizer).
    let unreachable = Self.firstUnreachableTable(
      in: memory.tableAddressRange, format: format, geometry: geometry)
    if let unreachable { throw .tableMemoryOutOfReach(physicalAddress: unreachable) }
    guard
      let roots = Self.allocateRoots(geometry.rootCount, bytes: geometry.rootTableBytes, in: memory)
    else {
      throw .outOfTableMemory
    }
    let limit: UInt64 = geometry.outputBits >= 64 ? ~0 : 1 << UInt64(geometry.outputBits)
    for r in 0..<geometry.rootCount
    where roots[r] &+ UInt64(geometry.rootTableBytes &- 1) >= limit && limit != ~0 {
      let address = roots[r]
      for done in 0..<geometry.rootCount {
        memory.freeTable(at: roots[done], byteCount: geometry.rootTableBytes)
      }
      throw .tableMemoryOutOfReach(physicalAddress: address)
    }
    self.init(
      format: format, memory: memory, options: options, geometry: geometry, roots: roots,
      checksEachTable: memory.tableAddressRange == nil)
  }

  /// The first table address in `range` that some level's table entries cannot
  /// hold (checked at both ends of the range: address fields are contiguous), or
  /// nil if all can (or the range is unknown).
  static func firstUnreachableTable(
    in range: ClosedRange<UInt64>?, format: Format, geometry: Geometry
  ) -> UInt64? {
    guard let range, geometry.levels.count > 1 else { return nil }
    let limit: UInt64 = geometry.outputBits >= 64 ? ~0 : 1 << UInt64(geometry.outputBits)
    for level in 0..<geometry.levels.count - 1 {
      let bytes = UInt64(geometry.levels[level + 1].tableBytes)
      let first = (range.lowerBound &+ bytes &- 1) & ~(bytes &- 1)
      let last = range.upperBound & ~(bytes &- 1)
      guard first <= last else { continue }
      for address in [first, last] {
        if limit != ~0 && address &+ (bytes &- 1) >= limit { return address }
        let entry = format.tableEntry(pointingTo: address, level: level)
        if format.tableAddress(of: entry, level: level) != address { return address }
      }
    }
    return nil
  }

  init(
    format: Format, memory: Memory, options: PageTableOptions, geometry: Geometry,
    roots: InlineArray<4, UInt64>, checksEachTable: Bool
  ) {
    self.checksEachTable = checksEachTable
    self.format = format
    self.memory = memory
    self.options = options
    var levels = InlineArray<6, LevelGeometry>(
      repeating: LevelGeometry(shift: 0, indexBits: 0, allowsLeaf: false))
    for i in 0..<geometry.levels.count { levels[i] = geometry.levels[i] }
    self.levels = levels
    var plans = InlineArray<6, LevelPlan>(repeating: LevelPlan(levels[0], child: nil))
    for i in 0..<geometry.levels.count {
      let child = i + 1 < geometry.levels.count ? geometry.levels[i + 1] : nil
      plans[i] = LevelPlan(geometry.levels[i], child: child)
    }
    self.plans = plans
    self.levelCount = geometry.levels.count
    self.rootCoverageBits = geometry.rootCoverageBits
    let indexBits = geometry.rootCoverageBits + geometry.rootSelectBits
    self.indexMask = indexBits >= 64 ? ~0 : (1 << UInt64(indexBits)) - 1
    self.granule = geometry.granule
    self.firstWindow = geometry.windows[0]
    self.secondWindow = geometry.windows[geometry.windows.count - 1]
    self.hasTwoWindows = geometry.windows.count > 1
    self.outputLimit = geometry.outputBits >= 64 ? ~0 : 1 << UInt64(geometry.outputBits)
    self.rootCount = geometry.rootCount
    self.rootBytes = geometry.rootTableBytes
    self.rootTables = roots
    self.breaksBeforeMake = format.liveEntryRule == .breakBeforeMake && !options.hasBBMLevel2
    super.init()
  }

  /// Allocates `count` root tables, or none (freeing any it got) if memory runs out.
  static func allocateRoots(_ count: Int, bytes: Int, in memory: Memory) -> InlineArray<4, UInt64>?
  {
    var roots = InlineArray<4, UInt64>(repeating: 0)
    for r in 0..<count {
      guard let root = memory.allocateTable(byteCount: bytes) else {
        for done in 0..<r { memory.freeTable(at: roots[done], byteCount: bytes) }
        return nil
      }
      roots[r] = root
    }
    return roots
  }

  /// The physical address of root table `index` (what a TTBR, CR3 or `satp` holds).
  ///
  /// `index` must be below ``rootCount`` (a trap names it otherwise); for an index
  /// that comes from outside, use ``rootAddress(at:)``, which throws instead.
  public func rootAddress(_ index: Int = 0) -> UInt64 {
    precondition(index >= 0 && index < rootCount, "PageTable.rootAddress: index below rootCount")
    return rootTables[index]
  }

  /// The physical address of root table `index`, or an error for an index that is
  /// not one of the table's roots.
  ///
  /// ```swift
  /// let dart = try PageTable(format: AppleDARTFormat(version: .dart2, granule: .k16,
  ///                                                  inputBits: 36), memory: memory)
  /// let ttbr1 = try dart.rootAddress(at: 1)
  /// ```
  ///
  /// - Throws: ``PageTableError/rootIndexOutOfRange(index:rootCount:)``.
  public func rootAddress(at index: Int) throws(PageTableError) -> UInt64 {
    guard index >= 0 && index < rootCount else {
      throw .rootIndexOutOfRange(index: index, rootCount: rootCount)
    }
    return rootTables[index]
  }

  /// The geometry of `level`.
  public func level(_ level: Int) -> LevelGeometry { levels[level] }

  /// The hot paths' view of `level`, which must be below ``depth`` (every caller
  /// derives it from walking down from the root, so it is not checked).
  @inlinable @inline(__always)
  func plan(_ level: Int) -> LevelPlan {
    assert(level >= 0 && level < levelCount, "PageTable: level out of range")
    return unsafe plans[unchecked: level]
  }
  /// The number of levels.
  public var depth: Int { levelCount }

  /// Frees tables of this table whose invalidation completed elsewhere (a gather
  /// dropped, or flushed through another table).
  @usableFromInline
  override func releaseInvalidated(_ tables: UnlinkedTables) {
    var gather = TLBGather(invalidator: CompletedInvalidation())
    gather.owner = self
    gather.unlinked = tables
    flush(&gather)
  }

  /// Whether a table entry at `level` cannot point at the table of `byteCount`
  /// bytes at `address` (above the output size, or cut by the address field).
  /// Out of line: called only for memory that did not declare its range.
  @inline(never) @usableFromInline
  func isOutOfReach(_ address: UInt64, byteCount: Int, level: Int) -> Bool {
    let (last, overflow) = address.addingReportingOverflow(UInt64(byteCount &- 1))
    if overflow || (outputLimit != ~0 && last >= outputLimit) { return true }
    let entry = format.tableEntry(pointingTo: address, level: level)
    return format.tableAddress(of: entry, level: level) != address
  }

  deinit {
    tearDown()
  }
}

/// How a ``PageTable`` behaves at its edges.
public struct PageTableOptions: Sendable {
  /// Trap when the table is freed with live leaf mappings (for tests), instead of
  /// reporting each leaked range.
  public var trapOnLeakedMappings: Bool
  /// Map naturally aligned runs with the format's contiguous encoding (ARM64
  /// contiguous hint, RISC-V Svnapot) where the format has one.
  public var useContiguousRuns: Bool
  /// Receives each leaked range when the table is freed with live mappings; the
  /// default prints it.
  public var leakReporter: (@Sendable (MappingRun) -> Void)?
  /// The system implements ARM's FEAT_BBM at level 2: a live block may be replaced
  /// by a table (and a contiguous run by plain leaves) directly, followed by a TLB
  /// invalidation, without the break-before-make window in which the range faults.
  /// Ignored by formats whose rule is not ``LiveEntryRule/breakBeforeMake``.
  public var hasBBMLevel2: Bool

  /// Options for a new table; every default is the conservative choice.
  public init(
    trapOnLeakedMappings: Bool = false, useContiguousRuns: Bool = true,
    leakReporter: (@Sendable (MappingRun) -> Void)? = nil, hasBBMLevel2: Bool = false
  ) {
    self.trapOnLeakedMappings = trapOnLeakedMappings
    self.useContiguousRuns = useContiguousRuns
    self.leakReporter = leakReporter
    self.hasBBMLevel2 = hasBBMLevel2
  }
}

/// What a virtual address translates to.
public struct Translation: Hashable, Sendable {
  /// The physical address of the byte.
  public var physicalAddress: UInt64
  /// The size of the page or block that maps it.
  public var pageSize: UInt64
  /// The level of the leaf (0 is the root).
  public var level: Int
  /// What the mapping allows.
  public var protection: Protection
  /// The raw leaf entry.
  public var entry: UInt64
}

/// A run of virtual addresses mapped to contiguous physical addresses with one
/// protection, as walks and dumps report them.
public struct MappingRun: Hashable, Sendable {
  /// The first virtual address of the run.
  public var virtualAddress: UInt64
  /// The physical address `virtualAddress` maps to; the run maps contiguously from it.
  public var physicalAddress: UInt64
  /// The run's length in bytes.
  public var size: UInt64
  /// What every page of the run allows.
  public var protection: Protection
  /// A run of `size` bytes from `virtualAddress` to `physicalAddress` with `protection`.
  public init(virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, protection: Protection)
  {
    self.virtualAddress = virtualAddress
    self.physicalAddress = physicalAddress
    self.size = size
    self.protection = protection
  }
}
