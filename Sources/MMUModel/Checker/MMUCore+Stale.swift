import PageTables

extension MMUCore {
  /// Reports the TLB entry in `slot`, which no longer matches memory for `address`.
  @inline(never)
  mutating func reportStaleHit(
    _ slot: Int, address: UInt64, space: Int, _ kind: AccessKind, _ privilege: Privilege
  ) {
    operation = .access(kind, privilege)
    synchronize()
    let cached = tlb[slot]
    let member = index(address & indexMask, level: cached.level)
    let current = read(cached.table, level: cached.level, index: member)
    let change = pendingChange(covering: address, space: space)
    if var change {
      guard !change.reported else { return }
      change.reported = true
      pending[SlotKey(table: change.table, index: change.index)] = change
    }
    record(
      MMUReport(
        rule: .staleTranslation, addressSpace: spaces[space].tag, virtualAddress: cached.first,
        level: cached.level, entry: cached.entry, currentEntry: current, table: cached.table,
        index: member, operation: .access(kind, privilege), at: event, cachedAt: cached.cachedAt,
        changedAt: change?.changedAt, physicalAddress: nil,
        detail: "the TLB served a translation cached at event \(cached.cachedAt) that the "
          + "tables no longer hold"
          + (change.map {
            "; entry \(hex($0.old)) became \(hex($0.current)) at event "
              + "\($0.changedAt) with no invalidation covering it"
          } ?? "")))
  }

  /// Reports a pending (uninvalidated) change covering `address` in `space`: the
  /// hardware may serve the old translation.
  mutating func reportSpeculativeStale(
    _ address: UInt64, space: Int, _ operation: MMUReport.Operation
  ) {
    guard let change = pendingChange(covering: address, space: space), !change.reported else {
      return
    }
    pending[SlotKey(table: change.table, index: change.index)]!.reported = true
    recordStale(change, operation: operation, cachedAt: nil)
  }

  /// Records a stale-translation report for `change`.
  mutating func recordStale(
    _ change: PendingChange, operation: MMUReport.Operation, cachedAt: UInt64?
  ) {
    let what = change.oldIsTable ? "table entry" : "leaf"
    record(
      MMUReport(
        rule: .staleTranslation, addressSpace: spaces[change.space].tag,
        virtualAddress: change.first, level: change.level, entry: change.old,
        currentEntry: change.current, table: change.table, index: change.index,
        operation: operation, at: event, cachedAt: cachedAt, changedAt: change.changedAt,
        physicalAddress: nil,
        detail: "the \(what) changed at event \(change.changedAt) and no invalidation covering "
          + "it followed, so the hardware may still use the old one"))
  }

  /// The pending change whose old translation covers `address` in `space`, if any.
  func pendingChange(covering address: UInt64, space: Int) -> PendingChange? {
    for change in pending.values
    where change.space == space && address >= change.first && address <= change.last {
      return change
    }
    return nil
  }

  /// Checks a walk-cache hit against memory: the parent entry must still point at
  /// the cached table.
  mutating func checkWalkCacheHit(
    _ cached: WalkCacheEntry, address: UInt64, space: Int, access: AccessKind
  ) {
    let current = read(cached.parentTable, level: cached.level - 1, index: cached.parentIndex)
    guard current != cached.entry else { return }
    let level = cached.level - 1
    if format.kind(of: current, level: level) == .table
      && format.tableAddress(of: current, level: level) == cached.table
    {
      return
    }
    let key = SlotKey(table: cached.parentTable, index: cached.parentIndex)
    if pending[key]?.reported == true { return }
    pending[key]?.reported = true
    record(
      MMUReport(
        rule: .staleTranslation, addressSpace: spaces[space].tag, virtualAddress: cached.first,
        level: level, entry: cached.entry, currentEntry: current, table: cached.parentTable,
        index: cached.parentIndex, operation: operation, at: event,
        cachedAt: cached.cachedAt, changedAt: pending[key]?.changedAt, physicalAddress: nil,
        detail: "a walk cache entry cached at event \(cached.cachedAt) points at table "
          + "\(hex(cached.table)), which the tables no longer link there"))
  }
}
