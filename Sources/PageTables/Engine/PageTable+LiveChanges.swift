/// Replacing entries the hardware may be using: splitting a block, breaking a
/// contiguous run, rewriting a leaf in place. Each follows the format's
/// ``LiveEntryRule`` and invalidates the old translation through the sink before
/// it writes again.
extension PageTable {
  /// Replaces the block at `index` of `view` (of `level`, covering the index-space
  /// range from `slot`) with the table `child` (allocated zeroed, not yet
  /// published) of the next level's leaves mapping the same range, each carrying
  /// the block's protection and state (``PageTableFormat/carryingState(of:level:into:level:)``).
  ///
  /// Under break-before-make the block is first made invalid and its range
  /// invalidated, so the range faults until the table is in; otherwise the table
  /// replaces the block and the range is invalidated right after.
  @inline(never)
  func replaceBlock<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, index: Int, slot: UInt64, with child: UInt64,
    sink: inout Sink
  ) {
    let geometry = plan(level)
    let childLevel = level &+ 1
    let childPlan = plan(childLevel)
    precondition(
      childPlan.allowsLeaf, "PageTable.split: the level below a block must allow leaves")
    // SAFETY: `child` was allocated for this split and is not reachable yet.
    let table = unsafe memory.unsafeTable(at: child, byteCount: childPlan.tableBytes)
    let tableEntry = format.tableEntry(pointingTo: child, level: level)
    var entry = view.load(index)
    while true {
      precondition(
        format.kind(of: entry, level: level) == .leaf,
        "PageTable.split: a block changed while being split (overlapping concurrent operations)")
      fillWithSmallerLeaves(table, level: childLevel, from: entry, blockLevel: level, slot: slot)
      // The hardware may set accessed or dirty in the block meanwhile: then the swap
      // fails and the table is filled again from the new value.
      let result = view.compareExchange(
        index, expected: entry, desired: breaksBeforeMake ? 0 : tableEntry)
      if result.exchanged { break }
      entry = result.original
    }
    sink.invalidateNow(
      start: externalAddress(slot), size: geometry.leafSize, granule: geometry.leafSize)
    if breaksBeforeMake { view.storeReleasing(index, tableEntry) }
  }

  /// Writes every entry of the unpublished `table` (of `level`) as a leaf mapping
  /// its part of the block `block` (of `blockLevel`, at index-space `slot`).
  func fillWithSmallerLeaves(
    _ table: TableView, level: Int, from block: UInt64, blockLevel: Int, slot: UInt64
  ) {
    let childPlan = plan(level)
    let template: UInt64
    do {
      template = try format.leafTemplate(
        for: format.protection(of: block, level: blockLevel), level: level)
    } catch {
      fatalError("PageTable.split: the format cannot re-encode a protection it decoded")
    }
    let base = format.outputAddress(of: block, level: blockLevel, virtualAddress: slot)
    // The smaller leaves keep the TLB benefit of contiguous runs where the level has
    // them (the block is naturally aligned, so every run of the new table is too).
    let run = options.useContiguousRuns ? childPlan.contiguousRun : 1
    let runBytes = childPlan.leafSize &* UInt64(truncatingIfNeeded: run)
    for k in 0..<childPlan.entryCount {
      let physicalAddress = base &+ UInt64(truncatingIfNeeded: k) &* childPlan.leafSize
      var leaf = format.leafEntry(
        template: template, physicalAddress: physicalAddress, level: level)
      leaf = format.carryingState(of: block, level: blockLevel, into: leaf, level: level)
      if run > 1 {
        leaf = format.contiguousEntry(
          leaf, level: level, runAddress: physicalAddress & ~(runBytes &- 1))
      }
      table.store(k, leaf)
    }
    table.setWord(UInt64(truncatingIfNeeded: childPlan.entryCount))
  }

  /// Rewrites every member of the contiguous run starting at index-space `runStart`
  /// in `view` (of `level`, based at `base`) as a plain leaf, invalidating the run.
  ///
  /// The hardware may record a write in any member of a run (Arm ARM D8.6), so if
  /// any member is dirty, every member comes out dirty: a conservative answer for
  /// dirty tracking, never a lost write.
  @inline(never)
  func breakRun<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, base: UInt64, runStart: UInt64, sink: inout Sink
  ) {
    let geometry = plan(level)
    let run = geometry.contiguousRun
    let first = Int(truncatingIfNeeded: (runStart &- base) >> geometry.shift)
    let runBytes = geometry.leafSize &* UInt64(truncatingIfNeeded: run)
    // The members as they were, taken atomically (made invalid under break-before-
    // make, so the hardware cannot change them any more).
    var members = InlineArray<128, UInt64>(repeating: 0)
    precondition(run <= 128, "PageTable.breakRun: runs have at most 128 members")
    var dirtyMember: UInt64? = nil
    for k in 0..<run {
      var entry = view.load(first &+ k)
      if breaksBeforeMake {
        while entry != 0 {
          let result = view.compareExchange(first &+ k, expected: entry, desired: 0)
          if result.exchanged { break }
          entry = result.original
        }
      }
      members[k] = entry
      if format.kind(of: entry, level: level) == .leaf && format.isDirty(entry, level: level) {
        dirtyMember = entry
      }
    }
    if breaksBeforeMake {
      sink.invalidateNow(
        start: externalAddress(runStart), size: runBytes, granule: geometry.leafSize)
    }
    for k in 0..<run {
      var entry = members[k]
      while true {
        guard format.kind(of: entry, level: level) == .leaf else { break }
        let memberAddress = runStart &+ UInt64(truncatingIfNeeded: k) &* geometry.leafSize
        let physicalAddress = format.outputAddress(
          of: entry, level: level, virtualAddress: memberAddress)
        var plain = format.breakingContiguity(entry, level: level, physicalAddress: physicalAddress)
        if let dirtyMember {
          plain = format.carryingState(of: dirtyMember, level: level, into: plain, level: level)
        }
        if breaksBeforeMake {
          view.store(first &+ k, plain)
          break
        }
        let result = view.compareExchange(first &+ k, expected: entry, desired: plain)
        if result.exchanged { break }
        entry = result.original
      }
    }
    if !breaksBeforeMake {
      sink.invalidateNow(
        start: externalAddress(runStart), size: runBytes, granule: geometry.leafSize)
    }
  }
}
