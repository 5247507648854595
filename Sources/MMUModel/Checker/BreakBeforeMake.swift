import PageTables

extension MMUCore {
  /// Why replacing the valid entry `old` by the valid entry `new` at `level` needs
  /// break-before-make, or nil if it may be written directly.
  ///
  /// Arm ARM (DDI 0487), "Using break-before-make when updating translation table
  /// entries": a change of output address, of block size (a block replaced by a
  /// table or the reverse), of the contiguous bit, of memory type or of the nG bit
  /// needs the sequence invalid entry, invalidation, new entry. Changing permissions
  /// or the access flag alone does not (the TLB still needs an invalidation for the
  /// new permissions to take effect, which the stale-translation check sees).
  func breakBeforeMakeReason(_ old: UInt64, _ new: UInt64, _ level: Int) -> String? {
    let oldKind = format.kind(of: old, level: level)
    let newKind = format.kind(of: new, level: level)
    if oldKind != newKind {
      return oldKind == .leaf ? "block replaced by a table" : "table replaced by a block"
    }
    if oldKind == .table {
      let oldTable = format.tableAddress(of: old, level: level)
      let newTable = format.tableAddress(of: new, level: level)
      return oldTable == newTable ? nil : "table address changed"
    }
    if format.outputAddress(of: old, level: level, virtualAddress: 0)
      != format.outputAddress(of: new, level: level, virtualAddress: 0)
    {
      return "output address changed"
    }
    if format.isContiguous(old, level: level) != format.isContiguous(new, level: level) {
      return "contiguous bit changed"
    }
    let before = format.protection(of: old, level: level)
    let after = format.protection(of: new, level: level)
    if before.memoryType != after.memoryType { return "memory type changed" }
    if before.global != after.global { return "global bit changed" }
    return nil
  }

  /// Records a break-before-make violation on `change`.
  mutating func reportBreakBeforeMake(
    _ shadow: ShadowTable, _ change: EntryChange, previous: UInt64, changedAt: UInt64,
    detail: String
  ) {
    let level = shadow.level
    let address = externalAddress(shadow.base &+ (UInt64(change.index) << UInt64(shifts[level])))
    record(
      MMUReport(
        rule: .breakBeforeMake, addressSpace: spaces[shadow.space].tag, virtualAddress: address,
        level: level, entry: previous, currentEntry: change.new, table: change.table,
        index: change.index, operation: .entryWrite, at: event, cachedAt: nil,
        changedAt: changedAt, physicalAddress: nil, detail: detail + " (seen at \(operation))"))
  }
}
