import PageTables

/// One entry that differs from the model's copy.
struct EntryChange {
  var table: UInt64
  var index: Int
  var old: UInt64
  var new: UInt64
}

extension MMUCore {
  /// Compares every live table with its copy and judges each difference: unlinked
  /// tables are kept as possibly cached, new tables are read in, changed valid
  /// entries wait for an invalidation, and a valid entry replaced by another
  /// translation without an invalidation between is a break-before-make violation.
  mutating func synchronize() {
    guard checking else { return }
    var changes: [EntryChange] = []
    for address in liveTables {
      guard let shadow = shadows[address] else { continue }
      // Work on the copy outside the class (one exclusive access per table, not per
      // entry; the swap keeps the array uniquely referenced, so no copy is made).
      var entries: [UInt64] = []
      swap(&entries, &shadow.entries)
      let count = entries.count
      memory.withTable(at: address, byteCount: tableBytes[shadow.level]) { view in
        for i in 0..<count {
          let entry = view.load(i)
          if entry != entries[i] {
            changes.append(EntryChange(table: address, index: i, old: entries[i], new: entry))
            entries[i] = entry
          }
        }
      }
      swap(&entries, &shadow.entries)
    }
    for change in changes {
      guard let shadow = shadows[change.table] else { continue }
      judge(change, in: shadow)
    }
  }

  /// Judges one changed entry of the table `shadow` copies (whose copy already
  /// holds the new value): the tree's shape, break-before-make, and the pending
  /// change a TLB or walk cache may still hold the old value for.
  mutating func judge(_ change: EntryChange, in shadow: ShadowTable) {
    let level = shadow.level
    let oldKind = format.kind(of: change.old, level: level)
    let newKind = format.kind(of: change.new, level: level)
    let slotAddress = shadow.base &+ (UInt64(change.index) << UInt64(shifts[level]))
    // The tree's shape: unlink the old child table, read in the new one.
    var smallestLeaf: UInt64 = 0
    let oldChild = oldKind == .table ? format.tableAddress(of: change.old, level: level) : nil
    let newChild = newKind == .table ? format.tableAddress(of: change.new, level: level) : nil
    if let oldChild, oldChild != newChild {
      smallestLeaf = detach(oldChild)
    } else if oldKind != .empty {
      smallestLeaf = levels[level].leafSize
    }
    if let newChild, newChild != oldChild, level + 1 < depth, newChild < outputLimit {
      adopt(
        newChild, level: level + 1, space: shadow.space, base: slotAddress,
        parent: (change.table, change.index))
    }
    let key = SlotKey(table: change.table, index: change.index)
    if oldKind != .empty {
      if newKind != .empty,
        let why = breakBeforeMakeReason(change.old, change.new, level, slot: slotAddress)
      {
        reportBreakBeforeMake(
          shadow, change, previous: change.old, changedAt: event,
          detail: "a live valid entry was replaced directly (\(why))")
      }
      if sameTranslation(change.old, change.new, level, slot: slotAddress) { return }
      if shadow.pendingCount > 0 && pending[key] != nil {
        pending[key]!.current = change.new
        return
      }
      shadow.pendingCount += 1
      let first = externalAddress(slotAddress)
      var last = first &+ (levels[level].leafSize &- 1)
      var global = false
      if oldKind == .leaf {
        global = format.protection(of: change.old, level: level).global
        let run = levels[level].contiguousRun
        if run > 1 && format.isContiguous(change.old, level: level) {
          // A run may be cached as one entry: the invalidation must meet the run.
          let runBytes = levels[level].leafSize &* UInt64(run)
          let runFirst = first & ~(runBytes &- 1)
          return pending[key] = PendingChange(
            space: shadow.space, table: change.table, index: change.index, level: level,
            first: runFirst, last: runFirst &+ (runBytes &- 1), old: change.old,
            current: change.new, changedAt: event, oldGlobal: global, oldIsTable: false,
            smallestLeaf: levels[level].leafSize)
        }
        last = first &+ (levels[level].leafSize &- 1)
      }
      pending[key] = PendingChange(
        space: shadow.space, table: change.table, index: change.index, level: level,
        first: first, last: last, old: change.old, current: change.new, changedAt: event,
        oldGlobal: global, oldIsTable: oldKind == .table, smallestLeaf: smallestLeaf)
    } else if shadow.pendingCount > 0, let waiting = pending[key] {
      if newKind != .empty,
        let why = breakBeforeMakeReason(waiting.old, change.new, level, slot: slotAddress)
      {
        reportBreakBeforeMake(
          shadow, change, previous: waiting.old, changedAt: waiting.changedAt,
          detail: "the entry was made invalid at event \(waiting.changedAt) but no invalidation "
            + "covered it before the new entry was written (\(why))")
      }
      if change.new == waiting.old {
        pending[key] = nil
        shadow.pendingCount -= 1
      } else {
        pending[key]!.current = change.new
      }
    }
  }

  /// Whether `old` and `new` translate the slot at the index-space address `slot`
  /// the same way (a TLB holding `old` is right).
  func sameTranslation(_ old: UInt64, _ new: UInt64, _ level: Int, slot: UInt64) -> Bool {
    if old == new { return true }
    let kind = format.kind(of: old, level: level)
    guard kind == format.kind(of: new, level: level) else { return false }
    switch kind {
    case .empty: return true
    case .table:
      return format.tableAddress(of: old, level: level)
        == format.tableAddress(of: new, level: level)
    case .leaf:
      return format.outputAddress(of: old, level: level, virtualAddress: slot)
        == format.outputAddress(of: new, level: level, virtualAddress: slot)
        && format.protection(of: old, level: level) == format.protection(of: new, level: level)
        && format.isContiguous(old, level: level) == format.isContiguous(new, level: level)
    }
  }

  /// Reads in the table at `address` (and its subtree) as live.
  mutating func adopt(
    _ address: UInt64, level: Int, space: Int, base: UInt64, parent: (UInt64, Int)
  ) {
    let count = levels[level].entryCount
    let entries = memory.withTable(at: address, byteCount: tableBytes[level]) { view in
      (0..<count).map { view.load($0) }
    }
    if shadows[address] != nil {
      // A table page seen before (unlinked, or freed and reused): its old entries'
      // pending changes no longer describe this table.
      pending = pending.filter { $0.key.table != address }
    }
    shadows[address] = ShadowTable(
      level: level, space: space, base: base, entries: entries, parent: parent)
    liveTables.insert(address)
    guard level + 1 < depth else { return }
    for (i, entry) in entries.enumerated() where format.kind(of: entry, level: level) == .table {
      let child = format.tableAddress(of: entry, level: level)
      guard child < outputLimit else { continue }
      adopt(
        child, level: level + 1, space: space,
        base: base &+ (UInt64(i) << UInt64(shifts[level])), parent: (address, i))
    }
  }

  /// Marks the table at `address` and its subtree unlinked (no longer compared with
  /// memory, kept until an invalidation covers the unlink); returns the smallest
  /// leaf size found under it (the stride an invalidation must use).
  mutating func detach(_ address: UInt64) -> UInt64 {
    guard let shadow = shadows[address], shadow.live else { return levels[depth - 1].leafSize }
    shadow.live = false
    liveTables.remove(address)
    var smallest = levels[shadow.level].leafSize
    for entry in shadow.entries {
      switch format.kind(of: entry, level: shadow.level) {
      case .table:
        smallest = min(smallest, detach(format.tableAddress(of: entry, level: shadow.level)))
      case .leaf: smallest = min(smallest, levels[shadow.level].leafSize)
      case .empty: break
      }
    }
    return smallest
  }

  /// Forgets the unlinked table at `address` and its unlinked subtree (an
  /// invalidation covered the unlink).
  mutating func forget(_ address: UInt64) {
    guard let shadow = shadows[address], !shadow.live else { return }
    shadows[address] = nil
    for entry in shadow.entries where format.kind(of: entry, level: shadow.level) == .table {
      forget(format.tableAddress(of: entry, level: shadow.level))
    }
  }
}
