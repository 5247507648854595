extension PageTable {
  /// Changes the protection (permissions and memory type) of every mapping inside
  /// `[virtualAddress, virtualAddress + size)` in place, without unmapping it:
  /// aarch64-paging's `modify_range`, the x86_64 crate's `update_flags`,
  /// page_table_multiarch's `protect`.
  ///
  /// ```swift
  /// var gather = TLBGather(invalidator: myTLB)
  /// try table.protect(virtualAddress: 0x4000_0000, size: 0x1000,
  ///                   protection: .readOnly, gather: &gather)   // splits a block if needed
  /// table.flush(&gather)                                        // the TLB forgets the old rights
  /// ```
  ///
  /// A block (or contiguous run) that the range cuts is split first, as
  /// ``split(at:gather:)`` does, with every table it needs allocated before
  /// anything changes. Holes are skipped. Each leaf keeps its output address and the
  /// state the hardware recorded in it, accessed and dirty
  /// (``PageTableFormat/carryingState(of:level:into:level:)``); everything
  /// `protection` says (rights, memory type or attribute index, software bits) is
  /// taken from it. A contiguous run stays a run.
  ///
  /// Live entries change by the architecture's rule (``LiveEntryRule``): a
  /// permission change is written over the old leaf and its range added to
  /// `gather` (the old rights may still be used until ``flush(_:)``); a change the
  /// format says needs break-before-make (ARM64: memory type, nG, a contiguous run)
  /// makes the leaf invalid, invalidates it through the gather's invalidator, then
  /// writes it, so the leaf's range faults for that moment.
  ///
  /// - Returns: the number of mapped bytes in the range (changed or already so).
  /// - Throws: a range error, ``PageTableError/unsupportedProtection(_:)`` if some
  ///   level that takes leaves cannot express `protection`, or
  ///   ``PageTableError/outOfTableMemory`` if a split at an edge needed a table;
  ///   in every case nothing changed.
  @discardableResult
  public func protect<Invalidator: TLBInvalidator>(
    virtualAddress: UInt64, size: UInt64, protection: Protection,
    gather: inout TLBGather<Invalidator>
  ) throws(PageTableError) -> UInt64 {
    let start = try locate(virtualAddress, size: size)
    var templates = InlineArray<6, UInt64>(repeating: 0)
    for level in 0..<levelCount where levels[level].allowsLeaf {
      templates[level] = try format.leafTemplate(for: protection, level: level)
    }
    let end = start &+ size
    let operation = enterOperation()
    defer { exitOperation(operation) }
    if let error = splitEdges(start: start, end: end, sink: &gather) { throw error }
    var bytes: UInt64 = 0
    var position = start
    while position < end {
      let (rootAddress, base) = root(for: position)
      let rootEnd = min(end, tableEnd(level: 0, base: base))
      // SAFETY: the root stays allocated while the table lives.
      let view = unsafe memory.unsafeTable(at: rootAddress, byteCount: plan(0).tableBytes)
      bytes &+= protectInTable(
        view, level: 0, base: base, start: position, end: rootEnd, templates: templates,
        sink: &gather)
      if rootEnd == ~0 { break }
      position = rootEnd
    }
    return bytes
  }

  /// Makes `start` and `end` (index space) leaf boundaries, breaking the contiguous
  /// runs that span them too, all or nothing: the error (nothing changed) if a
  /// table a split needs could not be had.
  func splitEdges<Sink: RemovalSink & ~Copyable>(start: UInt64, end: UInt64, sink: inout Sink)
    -> PageTableError?
  {
    var reserve = SplitReserve()
    let (startRoot, startBase) = root(for: start)
    let rootBytes = plan(0).tableBytes
    // SAFETY: the roots stay allocated while the table lives.
    let startView = unsafe memory.unsafeTable(at: startRoot, byteCount: rootBytes)
    var endView = startView
    var endBase = startBase
    let endInside = end != 0 && end & indexMask == end
    if endInside {
      let (endRoot, base) = root(for: end)
      endView = unsafe memory.unsafeTable(at: endRoot, byteCount: rootBytes)
      endBase = base
    }
    guard reserveSplits(startView, level: 0, base: startBase, at: start, into: &reserve),
      !endInside || reserveSplits(endView, level: 0, base: endBase, at: end, into: &reserve)
    else {
      reserve.release(to: memory)
      return reserve.error
    }
    splitDown(
      startView, level: 0, base: startBase, at: start, reserve: &reserve, breakingRuns: true,
      sink: &sink)
    if endInside {
      splitDown(
        endView, level: 0, base: endBase, at: end, reserve: &reserve, breakingRuns: true,
        sink: &sink)
    }
    reserve.release(to: memory)
    return nil
  }

  /// Re-encodes the leaves of `[start, end)` below the table `view` (of `level`,
  /// based at `base`) with `templates`; the range's edges are leaf and run edges.
  /// Returns the mapped bytes met.
  func protectInTable<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, base: UInt64, start: UInt64, end: UInt64,
    templates: InlineArray<6, UInt64>, sink: inout Sink
  ) -> UInt64 {
    let geometry = plan(level)
    let limit = min(end, geometry.tableEnd(base: base))
    var position = max(start, base)
    var bytes: UInt64 = 0
    while position < limit {
      let index = Int(truncatingIfNeeded: (position &- base) >> geometry.shift)
      let slot = base &+ (UInt64(truncatingIfNeeded: index) << geometry.shift)
      let entry = view.load(index)
      switch format.kind(of: entry, level: level) {
      case .empty:
        position = slot &+ geometry.leafSize
      case .table:
        let stop = min(limit, slot &+ geometry.leafSize)
        // SAFETY: this operation entered the reclamation counter, so a table it
        // reached is not freed before it finishes.
        let child = unsafe memory.unsafeTable(
          at: format.tableAddress(of: entry, level: level), byteCount: geometry.childTableBytes)
        bytes &+= protectInTable(
          child, level: level &+ 1, base: slot, start: position, end: stop, templates: templates,
          sink: &sink)
        position = stop
      case .leaf:
        precondition(
          slot >= start && slot &+ geometry.leafSize <= limit,
          "PageTable.protect: a leaf crosses the range's edge after the edges were split")
        let members =
          geometry.contiguousRun > 1 && format.isContiguous(entry, level: level)
          ? geometry.contiguousRun : 1
        rewriteLeaves(
          view, level: level, index: index, count: members, slot: slot,
          template: templates[level], sink: &sink)
        let length = geometry.leafSize &* UInt64(truncatingIfNeeded: members)
        bytes &+= length
        position = slot &+ length
      }
    }
    return bytes
  }

  /// `old` (a leaf at `level` covering index-space `slot`) re-encoded with
  /// `template`, keeping its address, state and run membership.
  func reencoded(_ old: UInt64, level: Int, slot: UInt64, template: UInt64) -> UInt64 {
    let physicalAddress = format.outputAddress(of: old, level: level, virtualAddress: slot)
    var new = format.leafEntry(template: template, physicalAddress: physicalAddress, level: level)
    new = format.carryingState(of: old, level: level, into: new, level: level)
    if format.isContiguous(old, level: level) {
      let runBytes = plan(level).leafSize &* UInt64(truncatingIfNeeded: plan(level).contiguousRun)
      let runAddress = format.outputAddress(
        of: old, level: level, virtualAddress: slot & ~(runBytes &- 1))
      new = format.contiguousEntry(new, level: level, runAddress: runAddress)
    }
    return new
  }

  /// Rewrites the `count` leaves from `index` (one leaf, or a whole contiguous run
  /// from `slot`) with `template`, by the format's live-entry rule.
  func rewriteLeaves<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, index: Int, count: Int, slot: UInt64, template: UInt64,
    sink: inout Sink
  ) {
    let leafSize = plan(level).leafSize
    var needsBreak = false
    var changes = false
    for k in 0..<count {
      let old = view.load(index &+ k)
      let memberSlot = slot &+ UInt64(truncatingIfNeeded: k) &* leafSize
      let new = reencoded(old, level: level, slot: memberSlot, template: template)
      if new != old { changes = true }
      if format.liveEntryRule == .breakBeforeMake
        && format.replacementNeedsBreak(old, new, level: level)
      {
        needsBreak = true
      }
    }
    guard changes else { return }
    let length = leafSize &* UInt64(truncatingIfNeeded: count)
    if needsBreak {
      // Break: take every member out (atomically, so no hardware update is lost),
      // invalidate, then make.
      var olds = InlineArray<128, UInt64>(repeating: 0)
      precondition(count <= 128, "PageTable.protect: runs have at most 128 members")
      for k in 0..<count {
        var old = view.load(index &+ k)
        while true {
          let result = view.compareExchange(index &+ k, expected: old, desired: 0)
          if result.exchanged { break }
          old = result.original
        }
        olds[k] = old
      }
      sink.invalidateNow(start: externalAddress(slot), size: length, granule: leafSize)
      for k in 0..<count {
        let memberSlot = slot &+ UInt64(truncatingIfNeeded: k) &* leafSize
        view.storeReleasing(
          index &+ k, reencoded(olds[k], level: level, slot: memberSlot, template: template))
      }
      return
    }
    for k in 0..<count {
      let memberSlot = slot &+ UInt64(truncatingIfNeeded: k) &* leafSize
      var old = view.load(index &+ k)
      while true {
        let new = reencoded(old, level: level, slot: memberSlot, template: template)
        guard new != old else { break }
        let result = view.compareExchange(index &+ k, expected: old, desired: new)
        if result.exchanged { break }
        old = result.original  // the hardware set accessed or dirty meanwhile
      }
    }
    sink.removed(start: externalAddress(slot), size: length, granule: leafSize)
  }
}
