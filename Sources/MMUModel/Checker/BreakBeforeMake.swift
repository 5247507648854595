import PageTables

extension MMUCore {
  /// Why replacing the valid entry `old` by the valid entry `new` at `level` (in the
  /// slot translating the index-space address `slot`) needs break-before-make, or
  /// nil if it may be written directly.
  ///
  /// A change of output address (or of the table an entry points at) always needs
  /// it: a TLB could otherwise hold two translations for one address. The rest
  /// follows the architecture's ``PageTables/LiveEntryRule`` (Arm's for ARM64, the
  /// format's own otherwise, or the configuration's). Under
  /// ``PageTables/LiveEntryRule/breakBeforeMake`` (ARM64; Arm ARM DDI 0487, D8.16.1
  /// "Using break-before-make when updating translation table entries"): a change of
  /// block size (a block replaced by a table or the reverse), of the contiguous bit,
  /// of memory type or of the nG bit, or one the format's
  /// ``PageTables/PageTableFormat/replacementNeedsBreak(_:_:level:)`` names, needs
  /// the sequence invalid entry, invalidation, new entry; with FEAT_BBM level 2
  /// (``MMUConfiguration/hasBBMLevel2``) size and contiguity changes may be written
  /// directly. Under ``PageTables/LiveEntryRule/replaceThenInvalidate`` (x86-64,
  /// RISC-V, Apple) they may be written over the old entry. Either way the old
  /// translation must then be invalidated, which the stale-translation check sees.
  func breakBeforeMakeReason(_ old: UInt64, _ new: UInt64, _ level: Int, slot: UInt64)
    -> String?
  {
    let oldKind = format.kind(of: old, level: level)
    let newKind = format.kind(of: new, level: level)
    if oldKind == .table && newKind == .table {
      let oldTable = format.tableAddress(of: old, level: level)
      let newTable = format.tableAddress(of: new, level: level)
      return oldTable == newTable ? nil : "table address changed"
    }
    if oldKind == .leaf && newKind == .leaf
      && format.outputAddress(of: old, level: level, virtualAddress: slot)
        != format.outputAddress(of: new, level: level, virtualAddress: slot)
    {
      return "output address changed"
    }
    guard liveEntryRule == .breakBeforeMake else { return nil }
    let relaxed = configuration.hasBBMLevel2
    if oldKind != newKind {
      if relaxed { return nil }
      return oldKind == .leaf ? "block replaced by a table" : "table replaced by a block"
    }
    if !relaxed && format.isContiguous(old, level: level) != format.isContiguous(new, level: level)
    {
      return "contiguous bit changed"
    }
    let before = format.protection(of: old, level: level)
    let after = format.protection(of: new, level: level)
    if before.memoryType != after.memoryType { return "memory type changed" }
    if before.global != after.global { return "global bit changed" }
    if format.replacementNeedsBreak(old, new, level: level)
      && !(relaxed
        && format.isContiguous(old, level: level) != format.isContiguous(new, level: level))
    {
      return "an attribute the format says needs break-before-make changed"
    }
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
