import Synchronization

/// A page table with one owner, proven by the type system: its operations take no
/// reclamation slot and use plain loads and stores instead of atomic
/// read-modify-writes.
///
/// ```swift
/// var table = try ExclusivePageTable(
///   format: ARM64Format(granule: .k4, inputBits: 48),
///   memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20))
/// try table.map(virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
///               size: 0x1000, protection: .readWrite)
/// table.translate(0x20_0123)?.physicalAddress                   // 0x8020_0123
/// var gather = TLBGather(invalidator: myTLB)
/// try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
/// table.flush(&gather)                      // invalidate, then free emptied tables
/// let shared = table.shared()               // a PageTable again, for many threads
/// var again = try ExclusivePageTable(consume shared)   // its only reference
/// ```
///
/// It wraps the same ``PageTable`` (same formats, same algorithms, same tables):
/// the value is `~Copyable` and holds the table's only reference, so no other
/// operation can run on the tree while it lives. Make one directly, or from a
/// `PageTable` that nothing else references (`init(_:)` checks, and fails with
/// ``ExclusiveAccessError/tableIsShared`` otherwise); ``shared()`` gives the
/// `PageTable` back for concurrent use.
///
/// ## What changes under exclusive access
/// - No operation announces itself to reclamation (no reader slot, no fence).
/// - A table's live-entry count is updated with plain loads and stores, a new table
///   is published with a release store instead of compare-and-swap, and an emptied
///   table is unlinked without a compare-and-swap.
/// - ``flush(_:)`` frees the tables `unmap` emptied as soon as the TLB invalidation
///   completed: nothing waits for other operations, since none exists.
///
/// What does not change: the hardware may still walk the tables, so every TLB
/// invalidation goes through the ``TLBGather`` as with a `PageTable`, emptied tables
/// are freed only after it, and live leaves are replaced (splits, broken runs,
/// protect) following the format's ``LiveEntryRule`` with compare-and-swap, since
/// the hardware may set an accessed or dirty bit at any moment.
///
/// ## Concurrency
/// Mutating operations (`map`, `unmap`, `protect`, `split(at:)`, `flush`) need the
/// value `inout`, so Swift's exclusivity rules forbid any other access meanwhile.
/// `translate`, `walk` and `dump` borrow it and may run together on several threads
/// (the tree cannot change while they do).
public struct ExclusivePageTable<Format: PageTableFormat, Memory: TableMemory>: ~Copyable,
  Sendable
{
  /// The table this value owns (its only reference).
  @usableFromInline let table: PageTable<Format, Memory>

  /// Creates an empty table owned by this value: allocates the root table(s).
  public init(
    format: Format, memory: Memory, options: PageTableOptions = PageTableOptions()
  ) throws(PageTableError) {
    let table = try PageTable(format: format, memory: memory, options: options)
    // SAFETY: the table is uniquely referenced here, so no other access exists.
    unsafe table.access = .exclusive
    self.table = table
  }

  /// Takes exclusive ownership of `table`, which must be its only reference (no
  /// other thread, scheme or ``TLBGather`` holding its unlinked tables may keep
  /// one): pass it with `consume`, so the caller's variable lets go of it too.
  /// Tables it retired earlier are freed now: no operation can still reach them.
  ///
  /// ```swift
  /// let owned = try ExclusivePageTable(consume table)
  /// ```
  ///
  /// - Throws: ``ExclusiveAccessError/tableIsShared`` if another reference exists
  ///   (the table then lives on through it, unchanged).
  public init(_ table: consuming PageTable<Format, Memory>) throws(ExclusiveAccessError) {
    guard isKnownUniquelyReferenced(&table) else { throw .tableIsShared }
    // Whatever the last other holder did happens before what this owner does.
    atomicMemoryFence(ordering: .acquiring)
    table.reclaim()
    // SAFETY: the table is uniquely referenced here, so no other access exists.
    unsafe table.access = .exclusive
    self.table = table
  }

  /// Gives the table back for shared use: a ``PageTable`` that any number of
  /// threads may use as it documents.
  public consuming func shared() -> PageTable<Format, Memory> {
    // SAFETY: this value holds the only reference, so no other access exists.
    unsafe table.access = .shared
    return table
  }

  /// The format description.
  public var format: Format { table.format }
  /// The memory that holds the tables.
  public var memory: Memory { table.memory }
  /// The number of levels.
  public var depth: Int { table.depth }
  /// The number of root tables.
  public var rootCount: Int { table.rootCount }

  /// The physical address of root table `index` (what a TTBR, CR3 or `satp` holds).
  public func rootAddress(_ index: Int = 0) -> UInt64 { table.rootAddress(index) }

  /// What `virtualAddress` translates to, or `nil` if the hardware would fault:
  /// ``PageTable/translate(_:)`` without announcing itself to reclamation.
  public func translate(_ virtualAddress: UInt64) -> Translation? {
    guard table.isInsideWindow(virtualAddress, virtualAddress) else { return nil }
    return table.walkToLeaf(virtualAddress & table.indexMask)
  }

  /// Maps a range as ``PageTable/map(virtualAddress:physicalAddress:size:protection:)``
  /// does (all or nothing), with plain stores for the bookkeeping.
  @discardableResult
  public mutating func map(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, protection: Protection
  ) throws(PageTableError) -> UInt64 {
    try table.map(
      virtualAddress: virtualAddress, physicalAddress: physicalAddress, size: size,
      protection: protection)
  }

  /// Maps physical pieces back to back from `virtualAddress`, as
  /// ``PageTable/map(virtualAddress:segments:protection:)`` does.
  @discardableResult
  public mutating func map<Segments: Collection<PhysicalSegment>>(
    virtualAddress: UInt64, segments: Segments, protection: Protection
  ) throws(PageTableError) -> UInt64 {
    try table.map(virtualAddress: virtualAddress, segments: segments, protection: protection)
  }

  /// Unmaps a range as ``PageTable/unmap(virtualAddress:size:gather:)`` does; the
  /// tables it empties wait in `gather` for ``flush(_:)``.
  @discardableResult
  public mutating func unmap<Invalidator: TLBInvalidator>(
    virtualAddress: UInt64, size: UInt64, gather: inout TLBGather<Invalidator>
  ) throws(PageTableError) -> UInt64 {
    try table.unmap(virtualAddress: virtualAddress, size: size, gather: &gather)
  }

  /// Changes the protection of a range in place, as
  /// ``PageTable/protect(virtualAddress:size:protection:gather:)`` does.
  @discardableResult
  public mutating func protect<Invalidator: TLBInvalidator>(
    virtualAddress: UInt64, size: UInt64, protection: Protection,
    gather: inout TLBGather<Invalidator>
  ) throws(PageTableError) -> UInt64 {
    try table.protect(
      virtualAddress: virtualAddress, size: size, protection: protection, gather: &gather)
  }

  /// Makes `virtualAddress` a leaf boundary, as ``PageTable/split(at:gather:)`` does.
  @discardableResult
  public mutating func split<Invalidator: TLBInvalidator>(
    at virtualAddress: UInt64, gather: inout TLBGather<Invalidator>
  ) throws(PageTableError) -> Bool {
    try table.split(at: virtualAddress, gather: &gather)
  }

  /// Invalidates the TLB for everything `gather` collected, then frees the tables
  /// it holds at once (no other operation can reach them). A gather holding
  /// another table's tables is flushed as ``PageTable/flush(_:)`` does.
  public mutating func flush<Invalidator: TLBInvalidator>(_ gather: inout TLBGather<Invalidator>) {
    if gather.freedTableCount == 0 {
      // Nothing to free (and nothing retired: no operation of another can be in flight).
      gather.invalidatePending()
      return
    }
    guard gather.owner === table else {
      table.flush(&gather)
      return
    }
    // Invalidate first: only then may the hardware no longer reach the tables.
    gather.invalidatePending()
    gather.forEachFreedTable { address, byteCount in
      table.memory.freeTable(at: address, byteCount: byteCount)
    }
    gather.removeFreedTables()
  }

  /// Walks the tables and leaves that intersect a range, as
  /// ``PageTable/walk(virtualAddress:size:visitor:)`` does.
  public func walk<Visitor: PageTableVisitor>(
    virtualAddress: UInt64, size: UInt64, visitor: inout Visitor
  ) throws(PageTableError) {
    try table.walk(virtualAddress: virtualAddress, size: size, visitor: &visitor)
  }

  /// Every mapping, merged into runs, as ``PageTable/dump()`` gives them.
  public func dump() -> [MappingRun] { table.dump() }
}
