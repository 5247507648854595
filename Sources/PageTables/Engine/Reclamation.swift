import Synchronization

/// Bit 63 of a table's bookkeeping word: the table is dead (being unlinked or
/// unlinked); no entry may be added to it.
@usableFromInline let deadTableBit: UInt64 = 1 << 63

/// A table unlinked from the tree, waiting until no operation can still hold it.
struct RetiredTable {
  /// The reclamation epoch when it was retired: readers that entered in a later
  /// epoch cannot reach it.
  var epoch: UInt64
  var address: UInt64
  var byteCount: Int
}

/// The slot an operation announced itself in (see ``ReaderSlots``); handed back
/// to ``PageTable/exitOperation(_:)``.
@usableFromInline
struct OperationSlot {
  @usableFromInline let index: Int
  @usableFromInline init(index: Int) { self.index = index }
}

/// Epoch-based reclamation's read side: one announcement word per slot, each on
/// its own pair of cache lines.
///
/// An operation that may follow pointers into the tree claims a free slot with
/// compare-and-swap, writing the epoch it entered in, and clears it with a plain
/// store when it leaves. The slot is picked from the address of the caller's
/// stack, so threads (whose stacks are apart) land on different slots and never
/// write a cache line another reader writes: the read side has no shared
/// read-modify-write. A slot that is taken is skipped for the next one.
///
/// A flush frees an unlinked table once no slot holds an epoch at or before the
/// one the table was retired in. Every operation ends, so that moment always
/// comes, however many readers keep starting new operations.
///
/// ## Invariants
/// `words` points at `count * stride` initialized atomic words, of which every
/// `stride`-th is a slot: 0 when free, `epoch << 1 | 1` while an operation holds it.
@safe
@usableFromInline
struct ReaderSlots: ~Copyable {
  /// Slots (more than the threads that normally touch one table at once).
  @usableFromInline static var count: Int { 64 }
  /// Words from one slot to the next: 128 bytes, so that neither the line nor its
  /// prefetch partner is shared.
  @usableFromInline static var stride: Int { 16 }
  @usableFromInline let words: UnsafeMutablePointer<Atomic<UInt64>>

  init() {
    let total = Self.count * Self.stride
    // SAFETY: a fresh allocation, each word initialized before use.
    unsafe words = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: total)
    for i in 0..<total { unsafe (words + i).initialize(to: Atomic(0)) }
  }

  /// Slot `index`'s word.
  @inlinable @inline(__always)
  func slot(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
    // SAFETY: every caller passes an index below `count` (masked or looped).
    unsafe words + index &* Self.stride
  }

  deinit {
    unsafe words.deinitialize(count: Self.count * Self.stride)
    unsafe words.deallocate()
  }
}

extension PageTable {
  /// Most unlinked tables that may wait to be freed: a flush that would leave
  /// more waits (a grace period) until the operations that could still hold them
  /// have finished.
  public static var maximumWaitingTables: Int { 128 }

  /// Marks the start of an operation that may follow pointers into the tree:
  /// announces the current epoch in a reader slot. Pass the result to
  /// ``exitOperation(_:)`` when the operation ends.
  @inline(__always)
  func enterOperation() -> OperationSlot {
    // An exclusive owner has no concurrent walker to announce itself to.
    if isExclusive { return OperationSlot(index: -1) }
    return enterSharedOperation()
  }

  /// ``enterOperation()`` under shared access: claims a reader slot.
  @inline(never)
  func enterSharedOperation() -> OperationSlot {
    var marker: UInt8 = 0
    // SAFETY: only the stack address is used (as a per-thread hash), never the memory.
    let stack = unsafe withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
    var index = Int(truncatingIfNeeded: ((UInt64(stack) >> 14) &* 0x9E37_79B9_7F4A_7C15) >> 58)
    let announced = epoch.load(ordering: .acquiring) << 1 | 1
    while true {
      // SAFETY: index < ReaderSlots.count.
      let word = unsafe readers.slot(index)
      if unsafe word.pointee.load(ordering: .relaxed) == 0 {
        let claimed = unsafe word.pointee.compareExchange(
          expected: 0, desired: announced, ordering: .sequentiallyConsistent
        ).exchanged
        if claimed { break }
      }
      index = (index &+ 1) & (ReaderSlots.count &- 1)
    }
    #if !arch(x86_64)
      // The announcement must be visible before the walk's loads (a locked
      // compare-and-swap is already a full barrier on x86-64).
      atomicMemoryFence(ordering: .sequentiallyConsistent)
    #endif
    return OperationSlot(index: index)
  }

  /// Marks the end of an operation: frees its reader slot (a plain store).
  @inline(__always)
  func exitOperation(_ operation: OperationSlot) {
    if operation.index < 0 { return }
    unsafe readers.slot(operation.index).pointee.store(0, ordering: .releasing)
  }

  /// Whether retired tables wait to be reclaimed.
  @inline(__always)
  var hasUnreclaimedTables: Bool {
    retiredCount.load(ordering: .relaxed) != 0
  }

  /// The oldest epoch an operation in flight entered in, or `UInt64.max` if none is
  /// in flight.
  func oldestActiveEpoch() -> UInt64 {
    // Order the caller's unlinking stores before reading the slots (the other half
    // of the readers' compare-and-swap).
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    var oldest = UInt64.max
    for i in 0..<ReaderSlots.count {
      let value = unsafe readers.slot(i).pointee.load(ordering: .acquiring)
      if value != 0 { oldest = min(oldest, value >> 1) }
    }
    return oldest
  }

  /// Takes the unlinked tables `gather` holds (their TLB entries were invalidated):
  /// frees them at once if no operation in flight began before they were
  /// unlinked, else adds them to the retired list, after freeing every retired
  /// table no operation can still hold. If that would leave more than
  /// ``maximumWaitingTables`` waiting, it first waits until the operations in the
  /// way have finished (every operation ends, so the wait does too).
  func retire<Invalidator: TLBInvalidator>(_ gather: borrowing TLBGather<Invalidator>) {
    // Operations that load the new epoch began after the unlinking stores.
    let tag = epoch.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
    let incoming = gather.freedTableCount
    while true {
      let oldest = oldestActiveEpoch()
      if oldest > tag {
        gather.forEachFreedTable { address, byteCount in
          memory.freeTable(at: address, byteCount: byteCount)
        }
        if hasUnreclaimedTables { reclaim(before: oldest) }
        return
      }
      var ready: [RetiredTable] = []
      let added: Bool = retiredLock.withLock {
        takeReady(before: oldest, into: &ready)
        guard retired.count + incoming <= Self.maximumWaitingTables else { return false }
        gather.forEachFreedTable { address, byteCount in
          retired.append(RetiredTable(epoch: tag, address: address, byteCount: byteCount))
        }
        retiredCount.store(retired.count, ordering: .relaxed)
        return true
      }
      for table in ready { memory.freeTable(at: table.address, byteCount: table.byteCount) }
      if added { return }
    }
  }

  /// Frees every retired table that no operation in flight can hold.
  func reclaim() {
    reclaim(before: oldestActiveEpoch())
  }

  /// Frees retired tables with an epoch before `oldest`.
  func reclaim(before oldest: UInt64) {
    var ready: [RetiredTable] = []
    retiredLock.withLock { takeReady(before: oldest, into: &ready) }
    for table in ready { memory.freeTable(at: table.address, byteCount: table.byteCount) }
  }

  /// Moves retired tables with an epoch before `oldest` to `ready` (under the lock).
  func takeReady(before oldest: UInt64, into ready: inout [RetiredTable]) {
    guard !retired.isEmpty else { return }
    var kept: [RetiredTable] = []
    for table in retired {
      if table.epoch < oldest { ready.append(table) } else { kept.append(table) }
    }
    retired = kept
    retiredCount.store(kept.count, ordering: .relaxed)
  }

  /// Tables unlinked and flushed but not yet freed (they wait until every
  /// operation that began before they were unlinked has finished).
  public var retiredTableCount: Int { retiredCount.load(ordering: .relaxed) }

  /// Reserves `count` entries in a live table; `false` if the table is dead.
  @inline(__always)
  func reserve(_ view: TableView, _ count: UInt64) -> Bool {
    if isExclusive {
      // No other operation is in flight: the table is live and nobody else counts.
      view.setExclusiveWord(view.exclusiveWord &+ count)
      return true
    }
    var word = view.word
    while true {
      if word & deadTableBit != 0 { return false }
      let result = view.exchangeWord(expected: word, desired: word &+ count)
      if result.exchanged { return true }
      word = result.original
    }
  }
}
