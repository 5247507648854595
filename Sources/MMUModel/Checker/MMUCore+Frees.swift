import PageTables

extension MMUCore {
  /// Checks a free of `[address, address + byteCount)`: no table the hardware can
  /// reach (live, in a walk cache, or unlinked without an invalidation) and no page
  /// a leaf or a TLB entry maps may be in it.
  mutating func pageFreed(_ address: UInt64, byteCount: UInt64) {
    // The same free told twice in a row (by `ObservedTableMemory`, then by the page
    // allocator's free observer under it) is judged once.
    if lastFree.event == event && lastFree.address == address && lastFree.byteCount == byteCount {
      return
    }
    event &+= 1
    lastFree = (event, address, byteCount)
    let freed = MMUReport.Operation.pageFreed(physicalAddress: address, byteCount: byteCount)
    operation = freed
    synchronize()
    guard checking, byteCount > 0 else { return }
    let last = address &+ (byteCount &- 1)
    checkTablesFreed(address, last, freed)
    checkMappedPagesFreed(address, last, freed)
  }

  /// Checks a new table at `address`: no translation may still walk it.
  mutating func tableAllocated(_ address: UInt64, byteCount: UInt64) {
    event &+= 1
    let allocated = MMUReport.Operation.tableAllocated(physicalAddress: address)
    operation = allocated
    synchronize()
    guard checking else { return }
    if let reason = reachability(of: address) {
      record(report(.tableReusedWhileWalkable, reason, allocated, page: address))
    }
    if let shadow = shadows[address], !shadow.live {
      forget(address)
    }
  }

  /// How the hardware could still reach the table at `address`, or nil.
  func reachability(of address: UInt64) -> Reachability? {
    if let shadow = shadows[address] {
      let parent = SlotKey(table: shadow.parentTable, index: shadow.parentIndex)
      if shadow.live {
        return Reachability(
          shadow: shadow, cachedAt: nil, changedAt: nil,
          detail: "a live entry still points at the table")
      }
      let change = pending[parent]
      return Reachability(
        shadow: shadow, cachedAt: nil, changedAt: change?.changedAt,
        detail: "the table was unlinked"
          + (change.map { " at event \($0.changedAt)" } ?? "")
          + " but no invalidation of its range and the walk caches followed")
    }
    if let cached = walkCache.entry(pointingAt: address) {
      return Reachability(
        shadow: nil, cachedAt: cached.cachedAt, changedAt: nil,
        detail: "a walk cache entry filled at event \(cached.cachedAt) still points at it",
        walkCache: cached)
    }
    return nil
  }

  /// Reports tables inside `[first, last]` the hardware can still reach.
  mutating func checkTablesFreed(_ first: UInt64, _ last: UInt64, _ freed: MMUReport.Operation) {
    var tables = shadows.keys.filter { $0 >= first && $0 <= last }
    for entry in walkCache.validEntries where entry.table >= first && entry.table <= last {
      tables.append(entry.table)
    }
    for table in Set(tables).sorted() {
      guard let reason = reachability(of: table) else { continue }
      record(report(.tableFreedWhileReachable, reason, freed, page: table))
      // Freed memory may be reused for anything: stop comparing it.
      if shadows[table] != nil { _ = detach(table) }
    }
  }

  /// Reports leaves (live, unlinked or changed without invalidation) and TLB entries
  /// that map part of `[first, last]`.
  mutating func checkMappedPagesFreed(
    _ first: UInt64, _ last: UInt64, _ freed: MMUReport.Operation
  ) {
    var reported = Set<UInt64>()
    for (address, shadow) in shadows {
      let level = shadow.level
      guard levels[level].allowsLeaf else { continue }
      let size = levels[level].leafSize
      for (i, entry) in shadow.entries.enumerated()
      where format.kind(of: entry, level: level) == .leaf {
        let slot = shadow.base &+ (UInt64(i) << UInt64(shifts[level]))
        let output = format.outputAddress(of: entry, level: level, virtualAddress: slot)
        guard output <= last && output &+ (size &- 1) >= first else { continue }
        let virtual = externalAddress(slot)
        guard reported.insert(virtual).inserted else { continue }
        let how =
          shadow.live
          ? "a live leaf still maps it"
          : "a leaf of an unlinked table "
            + "that no invalidation covered yet maps it"
        record(
          MMUReport(
            rule: .mappedPageFreed, addressSpace: spaces[shadow.space].tag,
            virtualAddress: virtual, level: level, entry: entry,
            currentEntry: shadow.live ? entry : read(address, level: level, index: i),
            table: address, index: i, operation: freed, at: event, cachedAt: nil,
            changedAt: nil, physicalAddress: max(first, output), detail: how))
      }
    }
    for change in pending.values where !change.oldIsTable {
      let level = change.level
      let output = format.outputAddress(
        of: change.old, level: level, virtualAddress: change.first & indexMask)
      let size = change.last &- change.first
      guard output <= last && output &+ size >= first,
        reported.insert(change.first).inserted
      else { continue }
      record(
        MMUReport(
          rule: .mappedPageFreed, addressSpace: spaces[change.space].tag,
          virtualAddress: change.first, level: level, entry: change.old,
          currentEntry: change.current, table: change.table, index: change.index,
          operation: freed, at: event, cachedAt: nil, changedAt: change.changedAt,
          physicalAddress: max(first, output),
          detail: "the leaf was removed at event \(change.changedAt) but no invalidation "
            + "covered it, so a TLB may still map the page"))
    }
    for entry in tlb.validEntries {
      guard entry.output <= last && entry.output &+ (entry.last &- entry.first) >= first,
        reported.insert(entry.first).inserted
      else { continue }
      record(
        MMUReport(
          rule: .mappedPageFreed, addressSpace: spaces[entry.space].tag,
          virtualAddress: entry.first, level: entry.level, entry: entry.entry,
          currentEntry: read(entry.table, level: entry.level, index: entry.index),
          table: entry.table, index: entry.index, operation: freed, at: event,
          cachedAt: entry.cachedAt, changedAt: nil, physicalAddress: max(first, entry.output),
          detail: "a TLB entry cached at event \(entry.cachedAt) still maps the page"))
    }
  }

  /// A report that a table page is still reachable.
  func report(
    _ rule: MMUReport.Rule, _ reason: Reachability, _ operation: MMUReport.Operation,
    page: UInt64
  ) -> MMUReport {
    if let shadow = reason.shadow, shadow.parentIndex >= 0 {
      let parentLevel = shadow.level - 1
      return MMUReport(
        rule: rule, addressSpace: spaces[shadow.space].tag,
        virtualAddress: externalAddress(shadow.base), level: parentLevel,
        entry: shadows[shadow.parentTable]?.entry(shadow.parentIndex)
          ?? read(shadow.parentTable, level: parentLevel, index: shadow.parentIndex),
        currentEntry: read(shadow.parentTable, level: parentLevel, index: shadow.parentIndex),
        table: shadow.parentTable, index: shadow.parentIndex, operation: operation, at: event,
        cachedAt: reason.cachedAt, changedAt: reason.changedAt, physicalAddress: page,
        detail: reason.detail)
    }
    if let shadow = reason.shadow {
      return MMUReport(
        rule: rule, addressSpace: spaces[shadow.space].tag,
        virtualAddress: externalAddress(shadow.base), level: 0, entry: 0, currentEntry: 0,
        table: page, index: -1, operation: operation, at: event, cachedAt: nil, changedAt: nil,
        physicalAddress: page, detail: "the table is a root of the address space")
    }
    let cached = reason.walkCache ?? WalkCacheEntry()
    return MMUReport(
      rule: rule, addressSpace: spaces[cached.space].tag, virtualAddress: cached.first,
      level: cached.level - 1, entry: cached.entry,
      currentEntry: read(cached.parentTable, level: cached.level - 1, index: cached.parentIndex),
      table: cached.parentTable, index: cached.parentIndex, operation: operation, at: event,
      cachedAt: reason.cachedAt, changedAt: nil, physicalAddress: page, detail: reason.detail)
  }
}

/// How a table can still be reached by the hardware.
struct Reachability {
  var shadow: ShadowTable?
  var cachedAt: UInt64?
  var changedAt: UInt64?
  var detail: String
  var walkCache: WalkCacheEntry? = nil
}
