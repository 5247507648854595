import Synchronization

/// Bit 63 of a table's bookkeeping word: the table is dead (being unlinked or
/// unlinked); no entry may be added to it.
@usableFromInline let deadTableBit: UInt64 = 1 << 63

/// A table unlinked from the tree, waiting until no operation can still hold it.
struct RetiredTable {
  var sequence: UInt64
  var address: UInt64
  var byteCount: Int
}

extension PageTable {
  /// Marks the start of an operation that may follow pointers into the tree.
  @inline(__always)
  func enterOperation() {
    activeOperations.wrappingAdd(1, ordering: .acquiringAndReleasing)
  }

  /// Marks the start of an operation; returns how many others were in flight.
  @inline(__always)
  func enterOperationCountingOthers() -> Int {
    activeOperations.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
  }

  /// Whether retired tables wait to be reclaimed.
  @inline(__always)
  var hasUnreclaimedTables: Bool {
    retireSequence.load(ordering: .acquiring) != reclaimedSequence.load(ordering: .relaxed)
  }

  /// Marks the end of an operation. The last operation to leave frees every table
  /// retired before it looked: every operation that could have seen such a table
  /// began before the table was unlinked and has now finished.
  @inline(__always)
  func exitOperation() {
    let seen = retireSequence.load(ordering: .acquiring)
    let previous = activeOperations.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue
    if previous == 1 && seen != reclaimedSequence.load(ordering: .relaxed) {
      reclaim(upTo: seen)
    }
  }

  /// Adds unlinked tables, whose TLB entries were invalidated, to the retired list.
  func retire<Invalidator: TLBInvalidator>(_ gather: borrowing TLBGather<Invalidator>) {
    retiredLock.withLock {
      gather.forEachFreedTable { address, byteCount in
        let sequence = retireSequence.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        retired.append(RetiredTable(sequence: sequence, address: address, byteCount: byteCount))
      }
    }
  }

  /// Frees retired tables with a sequence number up to `sequence`.
  func reclaim(upTo sequence: UInt64) {
    let ready: [RetiredTable] = retiredLock.withLock {
      if sequence != ~0 && sequence > reclaimedSequence.load(ordering: .relaxed) {
        reclaimedSequence.store(sequence, ordering: .relaxed)
      }
      guard !retired.isEmpty else { return [] }
      var ready: [RetiredTable] = []
      var waiting: [RetiredTable] = []
      for table in retired {
        if table.sequence <= sequence { ready.append(table) } else { waiting.append(table) }
      }
      retired = waiting
      return ready
    }
    for table in ready { memory.freeTable(at: table.address, byteCount: table.byteCount) }
  }

  /// Tables unlinked and flushed but not yet freed (they wait for a moment when no
  /// operation is in flight).
  public var retiredTableCount: Int { retiredLock.withLock { retired.count } }

  /// Reserves `count` entries in a live table; `false` if the table is dead.
  @inline(__always)
  func reserve(_ view: TableView, _ count: UInt64) -> Bool {
    var word = view.word
    while true {
      if word & deadTableBit != 0 { return false }
      let result = view.exchangeWord(expected: word, desired: word &+ count)
      if result.exchanged { return true }
      word = result.original
    }
  }
}
