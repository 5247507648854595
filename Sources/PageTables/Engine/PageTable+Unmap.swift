/// Receives what a removal did, so TLB invalidation and table freeing can follow.
@usableFromInline
protocol RemovalSink: ~Copyable {
  /// Whether emptied tables are unlinked (and handed to ``unlinked(table:byteCount:owner:)``).
  var unlinksTables: Bool { get }
  /// `[start, start + size)` (external addresses) stopped translating, or changed
  /// its leaves; leaves were at most `granule` bytes.
  mutating func removed(start: UInt64, size: UInt64, granule: UInt64)
  /// A table was unlinked; it may be freed once the TLB no longer holds it.
  mutating func unlinked(table: UInt64, byteCount: Int, owner: PageTableReclaimer)
  /// A live entry covering `[start, start + size)` (external addresses) is being
  /// replaced: invalidate it now, before the next write.
  mutating func invalidateNow(start: UInt64, size: UInt64, granule: UInt64)
}

/// The sink of a failed `map`'s rollback: the leaves it removes were never
/// reported as mapped, so there is nothing to invalidate, and its tables stay.
@usableFromInline
struct RollbackSink: RemovalSink {
  @usableFromInline var unlinksTables: Bool { false }
  @usableFromInline init() {}
  @usableFromInline mutating func removed(start: UInt64, size: UInt64, granule: UInt64) {}
  @usableFromInline mutating func unlinked(
    table: UInt64, byteCount: Int, owner: PageTableReclaimer
  ) {}
  @usableFromInline mutating func invalidateNow(start: UInt64, size: UInt64, granule: UInt64) {
    fatalError("PageTable.map: a rollback removes only leaves the map wrote, never splits")
  }
}

extension TLBGather: RemovalSink {
  @usableFromInline var unlinksTables: Bool { true }
  @usableFromInline mutating func removed(start: UInt64, size: UInt64, granule: UInt64) {
    add(start: start, size: size, granule: granule)
  }
  @usableFromInline mutating func unlinked(
    table: UInt64, byteCount: Int, owner: PageTableReclaimer
  ) {
    addFreedTable(at: table, byteCount: byteCount, owner: owner)
  }
}

/// The result of removing a range from one table.
@usableFromInline
struct RemovalResult {
  /// Bytes that were mapped and no longer are.
  @usableFromInline var bytes: UInt64
  /// Whether the table has no live entries left.
  @usableFromInline var emptied: Bool
  /// Whether a block at an edge could not be split (nothing was removed).
  @usableFromInline var outOfMemory: Bool
  /// Why: the table the memory gave that the format cannot point at, or 0 when
  /// memory ran out.
  @usableFromInline var unreachableTable: UInt64 = 0
}

extension PageTable {
  /// Unmaps every mapping inside `[virtualAddress, virtualAddress + size)`.
  ///
  /// Holes are skipped. A block (or contiguous run) that lies partly inside the
  /// range is first split into the next size down (the run broken into plain
  /// leaves), with the whole block added to `gather`; the part outside the range
  /// stays mapped. Tables left empty are unlinked and handed to `gather`; they are
  /// freed by ``flush(_:)`` after the TLB invalidation.
  ///
  /// - Returns: the number of bytes that were mapped and no longer are.
  /// - Throws: a range error, or ``PageTableError/outOfTableMemory`` if splitting
  ///   a block at an edge of the range needed a table and none was left. Either
  ///   way nothing changed: the tables a split needs are allocated before anything
  ///   is removed.
  @discardableResult
  public func unmap<Invalidator: TLBInvalidator>(
    virtualAddress: UInt64, size: UInt64, gather: inout TLBGather<Invalidator>
  ) throws(PageTableError) -> UInt64 {
    let start = try locate(virtualAddress, size: size)
    let operation = enterOperation()
    defer { exitOperation(operation) }
    let result = removeRange(start: start, end: start &+ size, sink: &gather)
    if result.outOfMemory {
      throw result.unreachableTable != 0
        ? .tableMemoryOutOfReach(physicalAddress: result.unreachableTable) : .outOfTableMemory
    }
    return result.bytes
  }

  /// Invalidates the TLB for everything `gather` collected, then frees the tables it
  /// holds (once no operation in flight can still reach them) and any retired
  /// earlier that no operation can reach any more. If more than
  /// ``maximumWaitingTables`` would be left waiting, it first waits until the
  /// operations that began before they were unlinked have finished; so never flush
  /// from inside a walk's visitor on the same table.
  ///
  /// The tables go back to the table that unlinked them even if `gather` was filled
  /// by another table (which then frees them); a gather is never misused silently.
  public func flush<Invalidator: TLBInvalidator>(_ gather: inout TLBGather<Invalidator>) {
    if gather.freedTableCount != 0, let owner = gather.owner, owner !== self {
      gather.invalidatePending()
      owner.releaseInvalidated(gather.unlinked)
      gather.removeFreedTables()
      return
    }
    // Invalidate first: only then may the hardware no longer reach the tables.
    gather.invalidatePending()
    if gather.freedTableCount != 0 {
      retire(gather)
      gather.removeFreedTables()
    } else if hasUnreclaimedTables {
      reclaim()
    }
  }

  /// Removes `[start, end)` (index space) from every root.
  @usableFromInline
  func removeRange<Sink: RemovalSink & ~Copyable>(start: UInt64, end: UInt64, sink: inout Sink)
    -> RemovalResult
  {
    var total = RemovalResult(bytes: 0, emptied: false, outOfMemory: false)
    if rootCount > 1, let error = splitEndInLastRoot(start: start, end: end, sink: &sink) {
      total.outOfMemory = true
      if case .tableMemoryOutOfReach(let address) = error { total.unreachableTable = address }
      return total
    }
    var position = start
    while position < end {
      let (rootAddress, base) = root(for: position)
      let rootEnd = min(end, tableEnd(level: 0, base: base))
      // SAFETY: the root stays allocated while the table lives.
      let view = unsafe memory.unsafeTable(at: rootAddress, byteCount: plan(0).tableBytes)
      let result = removeFromRoot(view, base: base, start: position, end: rootEnd, sink: &sink)
      total.bytes &+= result.bytes
      if result.outOfMemory {
        total.outOfMemory = true
        total.unreachableTable = result.unreachableTable
        break
      }
      position = rootEnd
    }
    return total
  }

  /// With several roots (Apple DART), splits the blocks at `end` when it lies in
  /// another root than `start`, before the first root changes, so that running
  /// out of memory there changes nothing.
  @inline(never)
  func splitEndInLastRoot<Sink: RemovalSink & ~Copyable>(
    start: UInt64, end: UInt64, sink: inout Sink
  ) -> PageTableError? {
    let (lastRoot, lastBase) = root(for: end &- 1)
    guard lastBase != root(for: start).base, end != tableEnd(level: 0, base: lastBase) else {
      return nil
    }
    // SAFETY: the root stays allocated while the table lives.
    let view = unsafe memory.unsafeTable(at: lastRoot, byteCount: plan(0).tableBytes)
    return splitBoundaries(view, level: 0, base: lastBase, start: lastBase, end: end, sink: &sink)
  }

  /// Removes `[start, end)` from the root table `view` based at `base`.
  ///
  /// While the range lies inside one entry that holds a table and is smaller than
  /// it, this descends in a loop; it removes the range inside the table it reached
  /// with ``removeInTable(_:level:base:start:end:sink:)``, then goes back up taking
  /// the steps that function takes after a child table (unlinking a table the
  /// removal emptied). A single page costs one loop step per level instead of a call.
  @inline(__always) @usableFromInline
  func removeFromRoot<Sink: RemovalSink & ~Copyable>(
    _ root: TableView, base rootBase: UInt64, start: UInt64, end: UInt64, sink: inout Sink
  ) -> RemovalResult {
    var views = InlineArray<6, TableView>(repeating: root)
    var indices = InlineArray<6, Int>(repeating: 0)
    var bases = InlineArray<6, UInt64>(repeating: rootBase)
    var level = 0
    while true {
      let geometry = plan(level)
      guard geometry.hasChild, end &- start < geometry.leafSize,
        (start ^ (end &- 1)) &>> geometry.shift == 0
      else { break }
      let view = views[level]
      let index = Int(truncatingIfNeeded: (start &- bases[level]) &>> geometry.shift)
      let entry = view.load(index)
      guard format.kind(of: entry, level: level) == .table else { break }
      indices[level] = index
      bases[level &+ 1] = bases[level] &+ (UInt64(truncatingIfNeeded: index) &<< geometry.shift)
      // SAFETY: this operation entered the reclamation counter, so a table it
      // reached is not freed before it finishes.
      views[level &+ 1] = unsafe memory.unsafeTable(
        at: format.tableAddress(of: entry, level: level), byteCount: geometry.childTableBytes)
      level &+= 1
    }
    // A block (at this level or below) that crosses an edge of the range is split
    // first, with every table it needs allocated before anything changes. Only an
    // edge that is not an edge of this level's entries can cross one.
    let edgeMask = plan(level).leafSize &- 1
    if (start | end) & edgeMask != 0,
      let error = splitBoundaries(
        views[level], level: level, base: bases[level], start: start, end: end, sink: &sink)
    {
      var failed = RemovalResult(bytes: 0, emptied: false, outOfMemory: true)
      if case .tableMemoryOutOfReach(let address) = error { failed.unreachableTable = address }
      return failed
    }
    var result =
      removeSingleLeaf(
        views[level], level: level, base: bases[level], start: start, end: end, sink: &sink)
      ?? removeInTable(
        views[level], level: level, base: bases[level], start: start, end: end, sink: &sink)
    while level > 0 {
      // What removeInTable does in the parent after this child table.
      let child = views[level]
      level &-= 1
      let geometry = plan(level)
      let view = views[level]
      var unlinked = false
      if result.emptied && sink.unlinksTables {
        // Claim the empty table; a mapper that reserved an entry first wins.
        unlinked = claimEmptyTable(child)
      }
      if unlinked {
        let index = indices[level]
        let entry = view.load(index)
        view.store(index, 0)
        sink.removed(
          start: externalAddress(bases[level &+ 1]), size: geometry.leafSize,
          granule: geometry.childLeafSize)
        sink.unlinked(
          table: format.tableAddress(of: entry, level: level),
          byteCount: geometry.childTableBytes, owner: self)
      }
      let word = unlinked ? releaseEntries(view, 1) : view.word
      result.emptied = word == 0 && level != 0
    }
    return result
  }

  /// Removes `[start, end)` from the table `view` of `level` based at `base`.
  @usableFromInline
  func removeInTable<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, base: UInt64, start: UInt64, end: UInt64, sink: inout Sink
  ) -> RemovalResult {
    let geometry = plan(level)
    let shift = geometry.shift
    let leafSize = geometry.leafSize
    let run = geometry.contiguousRun
    let limit = min(end, geometry.tableEnd(base: base))
    var position = max(start, base)
    var cleared: UInt64 = 0
    var bytes: UInt64 = 0
    var outOfMemory = false
    // Leaves cleared back to back are reported as one range.
    var pendingStart: UInt64 = 0
    var pendingEnd: UInt64 = 0

    while position < limit {
      let index = Int(truncatingIfNeeded: (position &- base) &>> shift)
      let slot = base &+ (UInt64(truncatingIfNeeded: index) &<< shift)
      let slotEnd = slot &+ leafSize
      var entry = view.load(index)
      switch format.kind(of: entry, level: level) {
      case .empty:
        position = slotEnd

      case .leaf:
        if run > 1 && format.isContiguous(entry, level: level) {
          entry = breakRunIfPartial(
            view, level: level, base: base, index: index, slot: slot, first: max(start, base),
            limit: limit, sink: &sink)
        }
        if position == slot && slotEnd <= limit {
          // Clear this leaf and the leaves after it inside the range in one tight
          // pass: plain leaves, and whole contiguous runs (a run that starts here
          // but ends past the range goes back to the general path, which breaks it).
          view.store(index, 0)
          var count = 1
          let room = min(
            geometry.entryCount &- index, Int(truncatingIfNeeded: (limit &- slot) &>> shift))
          while count < room {
            let next = view.load(index &+ count)
            guard format.kind(of: next, level: level) == .leaf else { break }
            // (Runs are a power of two long and start at a multiple of their length.)
            if run > 1 && format.isContiguous(next, level: level)
              && (index &+ count) & (run &- 1) == 0 && count &+ run > room
            {
              break
            }
            view.store(index &+ count, 0)
            count &+= 1
          }
          let rangeEnd = slot &+ UInt64(truncatingIfNeeded: count) &* leafSize
          cleared &+= UInt64(truncatingIfNeeded: count)
          bytes &+= rangeEnd &- slot
          if pendingEnd == slot && pendingEnd != pendingStart {
            pendingEnd = rangeEnd
          } else {
            if pendingEnd != pendingStart {
              sink.removed(
                start: externalAddress(pendingStart), size: pendingEnd &- pendingStart,
                granule: leafSize)
            }
            pendingStart = slot
            pendingEnd = rangeEnd
          }
          position = rangeEnd
        } else {
          // The range's edges were split before the removal began.
          preconditionFailure(
            "PageTable.unmap: a block crosses the range's edge after the edges were split "
              + "(overlapping concurrent operations)")
        }

      case .table:
        let childLevel = level &+ 1
        let childBytes = geometry.childTableBytes
        let childAddress = format.tableAddress(of: entry, level: level)
        let stop = min(limit, slotEnd)
        var unlink = false
        // SAFETY: this operation entered the reclamation counter, so a table it
        // reached is not freed before it finishes.
        let child = unsafe memory.unsafeTable(at: childAddress, byteCount: childBytes)
        let result = removeInTable(
          child, level: childLevel, base: slot, start: position, end: stop, sink: &sink)
        if result.emptied && sink.unlinksTables {
          // Claim the empty table; a mapper that reserved an entry first wins.
          unlink = claimEmptyTable(child)
        }
        bytes &+= result.bytes
        if unlink {
          view.store(index, 0)
          cleared &+= 1
          sink.removed(
            start: externalAddress(slot), size: leafSize, granule: geometry.childLeafSize)
          sink.unlinked(table: childAddress, byteCount: childBytes, owner: self)
        }
        if result.outOfMemory {
          outOfMemory = true
          position = limit
        } else {
          position = stop
        }
      }
    }
    if pendingEnd != pendingStart {
      sink.removed(
        start: externalAddress(pendingStart), size: pendingEnd &- pendingStart, granule: leafSize)
    }
    let word = cleared == 0 ? view.word : releaseEntries(view, cleared)
    return RemovalResult(bytes: bytes, emptied: word == 0 && level != 0, outOfMemory: outOfMemory)
  }

  /// Breaks the contiguous run holding slot `index` if the removal `[first, limit)`
  /// covers only part of it (invalidating the whole run); returns the slot's
  /// entry. Out of line: runs are rare next to the plain-leaf hot path.
  @inline(never) @usableFromInline
  func breakRunIfPartial<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, base: UInt64, index: Int, slot: UInt64, first: UInt64,
    limit: UInt64, sink: inout Sink
  ) -> UInt64 {
    let geometry = plan(level)
    let runBytes = geometry.leafSize &* UInt64(truncatingIfNeeded: geometry.contiguousRun)
    let runStart = slot & ~(runBytes &- 1)
    if first > runStart || limit < runStart &+ runBytes {
      breakRun(view, level: level, base: base, runStart: runStart, sink: &sink)
    }
    return view.load(index)
  }
}
