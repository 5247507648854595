import PageTables
import Synchronization

/// The hardware side of a page table, as a test instrument: a translation unit with
/// its own walker, a TLB and walk caches, TLB maintenance commands, and a checker
/// that reports the bugs drivers have (stale translations, tables freed while
/// reachable, mapped pages freed, break-before-make violations).
///
/// ```swift
/// let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
/// let mmu = try MMU(format: ARM64Format(granule: .k4, inputBits: 48), memory: image)
/// let table = try PageTable(format: mmu.format, memory: mmu.observing(image))
/// let space = mmu.attach(table, asid: 1)
///
/// try table.map(virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
///               size: 0x1000, protection: .readWrite)
/// try mmu.access(0x20_0010, .write, in: space).physicalAddress    // 0x8020_0010
///
/// var gather = TLBGather(invalidator: mmu.invalidator(for: space))
/// try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
/// table.flush(&gather)                  // the gather's commands reach the model's TLB
/// mmu.pageFreed(physicalAddress: 0x8020_0000, byteCount: 0x1000)
/// mmu.checkQuiescent()
/// assert(mmu.reports.isEmpty)
/// mmu.detach(space)                     // before the table goes away
/// ```
///
/// ## How the model sees entry writes
/// The engine writes entries through raw table views, so nothing announces its
/// writes. The model keeps a copy of every table reachable from an attached root
/// and compares memory with it at each of its own operations (an access that misses
/// the TLB, an invalidation, a free, a table allocation, ``synchronize()``,
/// ``checkQuiescent()``). Writes between two such points are judged as one change
/// per entry; since every invalidation is such a point, that is exactly the
/// granularity break-before-make needs. A writer that knows which entry it wrote
/// (a driver's own table code, a test) tells the model with
/// ``entryWritten(table:index:)``, which judges that entry alone, at once. Limits: a
/// TLB hit looks at memory only for its own leaf (so it stays cheap); a table the
/// model first sees after several writes is taken as it is then (its earlier states
/// were never visible to the model, as they may never have been to a walker); the
/// tables must form a tree (a table linked from two places is tracked at the last
/// one); and tables the engine writes on another thread while the model looks are
/// seen mid-update, as hardware would.
///
/// Table frees reach the model through ``observing(_:)`` (a `TableMemory` that
/// forwards to yours and tells the model), data-page frees through
/// ``observeFrees(of:)`` (memory from `PhysicalPages`) or
/// ``pageFreed(physicalAddress:byteCount:)`` (any other memory).
///
/// ## Threading
/// Every method may be called from any thread; one lock orders them, so the model
/// behaves as one translation unit that sees the calls one at a time. A TLB hit
/// takes the lock too (it updates the replacement state and the event clock), so
/// threads that translate at once wait for each other.
public final class MMU<Format: PageTableFormat, Memory: TableMemory>: Sendable {
  /// The format the tables are in.
  public let format: Format
  /// The memory the model reads tables from.
  public let memory: Memory
  /// The TLB and checker settings.
  public let configuration: MMUConfiguration
  @usableFromInline let core: Mutex<MMUCore<Format, Memory>>

  /// A model reading `format` tables from `memory`.
  /// - Throws: ``MMUConfigurationError/invalidShape(_:)`` for a TLB shape it cannot build.
  public init(
    format: Format, memory: Memory, configuration: MMUConfiguration = MMUConfiguration()
  ) throws(MMUConfigurationError) {
    if let problem = configuration.problem { throw .invalidShape(problem) }
    self.format = format
    self.memory = memory
    self.configuration = configuration
    core = Mutex(MMUCore(format: format, memory: memory, configuration: configuration))
  }

  /// Starts translating for the address space whose root tables are `roots` (one
  /// per root the format has: DART's several TTBRs), tagged with `asid` and `vmid`.
  /// - Throws: ``MMUUsageError/wrongRootCount(given:expected:)`` when `roots` does
  ///   not hold exactly one address per root of the format; nothing is attached.
  public func attach(
    roots: [UInt64], asid: UInt16 = 0, vmid: UInt16 = 0
  ) throws(MMUUsageError) -> AddressSpace {
    guard roots.count == format.geometry.rootCount else {
      throw .wrongRootCount(given: roots.count, expected: format.geometry.rootCount)
    }
    return core.withLock { $0.attach(roots: roots, asid: asid, vmid: vmid) }
  }

  /// Starts translating for `table`'s address space.
  public func attach<TableMemoryType: TableMemory>(
    _ table: PageTable<Format, TableMemoryType>, asid: UInt16 = 0, vmid: UInt16 = 0
  ) -> AddressSpace {
    // A table of this format has exactly the format's roots, so no count to check.
    let roots = (0..<table.rootCount).map { table.rootAddress($0) }
    return core.withLock { $0.attach(roots: roots, asid: asid, vmid: vmid) }
  }

  /// Stops translating for `space` and forgets what was cached for it (the context
  /// is torn down); call it before the space's tables are freed.
  public func detach(_ space: AddressSpace) {
    core.withLock { $0.detach(space.index) }
  }

  /// Translates an access by `privilege` of `kind` to `virtualAddress` in `space`.
  ///
  /// A TLB hit costs a lookup and (when checking) one entry read to compare; a miss
  /// walks the tables and fills the TLB and walk caches. A stale translation is used
  /// as the hardware would use it, and reported.
  /// - Throws: the ``MMUFault`` the hardware would raise.
  @inlinable
  public func access(
    _ virtualAddress: UInt64, _ kind: AccessKind = .read,
    _ privilege: Privilege = .privileged, in space: AddressSpace
  ) throws(MMUFault) -> MMUTranslation {
    try translate(virtualAddress, kind, privilege, space.index)
  }

  @inlinable
  func translate(_ address: UInt64, _ kind: AccessKind, _ privilege: Privilege, _ space: Int)
    throws(MMUFault) -> MMUTranslation
  {
    try core.withLock { (core) throws(MMUFault) -> MMUTranslation in
      try core.access(address, kind, privilege, space: space)
    }
  }

  /// Carries out a TLB maintenance command for `vmid`.
  public func invalidate(_ command: TLBInvalidation, vmid: UInt16 = 0) {
    core.withLock { $0.invalidate(command, vmid: vmid) }
  }

  /// A `TLBInvalidator` issuing `space`'s commands to this model: hand it to a
  /// `TLBGather` and the engine's flushes reach the model unchanged.
  public func invalidator(for space: AddressSpace) -> MMUInvalidator<Format, Memory> {
    MMUInvalidator(mmu: self, space: space)
  }

  /// Table memory that forwards to `base` and tells the model about every table
  /// allocated and freed (so frees of reachable tables are reported). Give it to the
  /// `PageTable` under test.
  public func observing<Base: TableMemory>(_ base: Base) -> ObservedTableMemory<Base> {
    ObservedTableMemory(base, observer: self)
  }

  /// Tells the model that `[physicalAddress, physicalAddress + byteCount)` was freed:
  /// a table page still reachable, or a page a leaf or TLB entry still maps, is
  /// reported.
  public func pageFreed(physicalAddress: UInt64, byteCount: UInt64) {
    core.withLock { $0.pageFreed(physicalAddress, byteCount: byteCount) }
  }

  /// Tells the model that a table was allocated at `physicalAddress`: reported if a
  /// translation could still walk the page.
  public func tableAllocated(physicalAddress: UInt64, byteCount: UInt64) {
    core.withLock { $0.tableAllocated(physicalAddress, byteCount: byteCount) }
  }

  /// Tells the model that the entry at `index` of the table at `table` was just
  /// written (by the driver's own code, or a test, rather than the engine): the
  /// model judges that one entry now, comparing it with its copy (the old value)
  /// and the TLB, walk caches and break-before-make rule, without looking at the
  /// rest of memory. A table the model does not know yet (not linked from an
  /// attached space, or linked since the model last looked at memory) is read in
  /// whole when the model sees it linked, so a write to it needs no call and is not
  /// judged.
  ///
  /// ```swift
  /// memory.withTable(at: leafTable, byteCount: 4096) { $0.store(index, newLeaf) }
  /// try mmu.entryWritten(table: leafTable, index: index)
  /// ```
  /// - Throws: ``MMUUsageError/entryIndexOutOfRange(table:index:entries:)`` for an
  ///   index outside a table the model knows.
  public func entryWritten(table: UInt64, index: Int) throws(MMUUsageError) {
    try core.withLock { (core) throws(MMUUsageError) in
      try core.entryWritten(table, index: index)
    }
  }

  /// Looks at table memory now, judging every entry written since the last look.
  public func synchronize() {
    core.withLock { $0.synchronize() }
  }

  /// Looks at memory and reports every changed entry that no invalidation has
  /// covered yet (call it where the driver claims to be done: after a flush).
  public func checkQuiescent() {
    core.withLock { $0.checkQuiescent() }
  }

  /// Every report so far, in order.
  public var reports: [MMUReport] { core.withLock { $0.reports } }

  /// Returns the reports so far and forgets them.
  public func takeReports() -> [MMUReport] {
    core.withLock { core in
      let taken = core.reports
      core.reports = []
      return taken
    }
  }

  /// The number of events (accesses, invalidations, frees, checks) so far: the
  /// clock of ``MMUReport``'s event numbers.
  public var eventCount: UInt64 { core.withLock { $0.event } }
}

extension MMU: TableEventObserver {}

/// What ``ObservedTableMemory`` tells: table allocations and frees.
public protocol TableEventObserver: AnyObject, Sendable {
  /// A table was allocated at `physicalAddress`.
  func tableAllocated(physicalAddress: UInt64, byteCount: UInt64)
  /// Pages were freed (a table, or data).
  func pageFreed(physicalAddress: UInt64, byteCount: UInt64)
}
