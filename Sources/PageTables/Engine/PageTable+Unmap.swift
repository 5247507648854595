/// Receives what a removal did, so TLB invalidation and table freeing can follow.
@usableFromInline
protocol RemovalSink: ~Copyable {
  /// Whether emptied tables are unlinked (and handed to ``unlinked(table:byteCount:)``).
  var unlinksTables: Bool { get }
  /// `[start, start + size)` (external addresses) stopped translating, or changed
  /// its leaves; leaves were at most `granule` bytes.
  mutating func removed(start: UInt64, size: UInt64, granule: UInt64)
  /// A table was unlinked; it may be freed once the TLB no longer holds it.
  mutating func unlinked(table: UInt64, byteCount: Int)
}

/// The sink of a failed `map`'s rollback: the leaves it removes were never
/// reported as mapped, so there is nothing to invalidate, and its tables stay.
@usableFromInline
struct RollbackSink: RemovalSink {
  @usableFromInline var unlinksTables: Bool { false }
  @usableFromInline init() {}
  @usableFromInline mutating func removed(start: UInt64, size: UInt64, granule: UInt64) {}
  @usableFromInline mutating func unlinked(table: UInt64, byteCount: Int) {}
}

extension TLBGather: RemovalSink {
  @usableFromInline var unlinksTables: Bool { true }
  @usableFromInline mutating func removed(start: UInt64, size: UInt64, granule: UInt64) {
    add(start: start, size: size, granule: granule)
  }
  @usableFromInline mutating func unlinked(table: UInt64, byteCount: Int) {
    addFreedTable(at: table, byteCount: byteCount)
  }
}

/// The result of removing a range from one table.
@usableFromInline
struct RemovalResult {
  /// Bytes that were mapped and no longer are.
  @usableFromInline var bytes: UInt64
  /// Whether the table has no live entries left.
  @usableFromInline var emptied: Bool
  /// Whether table memory ran out while splitting a block.
  @usableFromInline var outOfMemory: Bool
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
  /// - Throws: a range error before anything changes, or
  ///   ``PageTableError/outOfTableMemory`` if splitting a block needed a table and
  ///   none was left; the part of the range before that block was unmapped (and is
  ///   in `gather`).
  @discardableResult
  public func unmap<Invalidator: TLBInvalidator>(
    virtualAddress: UInt64, size: UInt64, gather: inout TLBGather<Invalidator>
  ) throws(PageTableError) -> UInt64 {
    let start = try locate(virtualAddress, size: size)
    enterOperation()
    defer { exitOperation() }
    let result = removeRange(start: start, end: start &+ size, sink: &gather)
    if result.outOfMemory { throw .outOfTableMemory }
    return result.bytes
  }

  /// Invalidates the TLB for everything `gather` collected, then frees the tables it
  /// holds (once no operation in flight can still reach them).
  public func flush<Invalidator: TLBInvalidator>(_ gather: inout TLBGather<Invalidator>) {
    if gather.freedTableCount == 0 && !hasUnreclaimedTables {
      // No table to free or reclaim, so no table is touched: invalidate only, without
      // entering the reclamation counter.
      gather.invalidatePending()
      return
    }
    let others = enterOperationCountingOthers()
    gather.invalidatePending()
    if gather.freedTableCount != 0 {
      if others == 0 {
        // No operation was in flight when this one began, and every later one
        // started after the tables were unlinked (the unlinking stores are ordered
        // before this operation's entry, which later entries read), so nothing can
        // still reach them: free them now, without the retired list.
        gather.forEachFreedTable { address, byteCount in
          memory.freeTable(at: address, byteCount: byteCount)
        }
      } else {
        retire(gather)
      }
      gather.removeFreedTables()
    }
    exitOperation()
  }

  /// Removes `[start, end)` (index space) from every root.
  @usableFromInline
  func removeRange<Sink: RemovalSink & ~Copyable>(start: UInt64, end: UInt64, sink: inout Sink)
    -> RemovalResult
  {
    var total = RemovalResult(bytes: 0, emptied: false, outOfMemory: false)
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
        break
      }
      position = rootEnd
    }
    return total
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
        (start ^ (end &- 1)) >> geometry.shift == 0
      else { break }
      let view = views[level]
      let index = Int(truncatingIfNeeded: (start &- bases[level]) >> geometry.shift)
      let entry = view.load(index)
      guard format.kind(of: entry, level: level) == .table else { break }
      indices[level] = index
      bases[level &+ 1] = bases[level] &+ (UInt64(truncatingIfNeeded: index) << geometry.shift)
      // SAFETY: this operation entered the reclamation counter, so a table it
      // reached is not freed before it finishes.
      views[level &+ 1] = unsafe memory.unsafeTable(
        at: format.tableAddress(of: entry, level: level), byteCount: geometry.childTableBytes)
      level &+= 1
    }
    var result = removeInTable(
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
        unlinked = child.exchangeWord(expected: 0, desired: deadTableBit).exchanged
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
          byteCount: geometry.childTableBytes)
      }
      let word = unlinked ? view.subtractFromWord(1) : view.word
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
      let index = Int(truncatingIfNeeded: (position &- base) >> shift)
      let slot = base &+ (UInt64(truncatingIfNeeded: index) << shift)
      let slotEnd = slot &+ leafSize
      var entry = view.load(index)
      switch format.kind(of: entry, level: level) {
      case .empty:
        position = slotEnd

      case .leaf:
        if run > 1 && format.isContiguous(entry, level: level) {
          entry = breakRunIfPartial(
            view, level: level, base: base, index: index, slot: slot, position: position,
            limit: limit, sink: &sink)
        }
        if position == slot && slotEnd <= limit {
          // Clear this leaf and the plain leaves after it inside the range in one
          // tight pass (a contiguous-run member goes back to the general path).
          view.store(index, 0)
          var count = 1
          let room = min(
            geometry.entryCount &- index, Int(truncatingIfNeeded: (limit &- slot) >> shift))
          while count < room {
            let next = view.load(index &+ count)
            guard format.kind(of: next, level: level) == .leaf,
              run <= 1 || !format.isContiguous(next, level: level)
            else { break }
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
          // Part of a block: split it into the next size down, then go on inside.
          guard splitOutOfLine(view, level: level, index: index, entry: entry, slot: slot) else {
            outOfMemory = true
            position = limit
            break
          }
          sink.removed(start: externalAddress(slot), size: leafSize, granule: leafSize)
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
          unlink = child.exchangeWord(expected: 0, desired: deadTableBit).exchanged
        }
        bytes &+= result.bytes
        if unlink {
          view.store(index, 0)
          cleared &+= 1
          sink.removed(
            start: externalAddress(slot), size: leafSize, granule: geometry.childLeafSize)
          sink.unlinked(table: childAddress, byteCount: childBytes)
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
    let word = cleared == 0 ? view.word : view.subtractFromWord(cleared)
    return RemovalResult(bytes: bytes, emptied: word == 0 && level != 0, outOfMemory: outOfMemory)
  }

  /// Breaks the contiguous run holding slot `index` if `[position, limit)` covers
  /// only part of it (reporting the whole run); returns the slot's entry. Out of
  /// line: runs are rare next to the plain-leaf hot path.
  @inline(never) @usableFromInline
  func breakRunIfPartial<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, base: UInt64, index: Int, slot: UInt64, position: UInt64,
    limit: UInt64, sink: inout Sink
  ) -> UInt64 {
    let geometry = plan(level)
    let runBytes = geometry.leafSize &* UInt64(truncatingIfNeeded: geometry.contiguousRun)
    let runStart = slot & ~(runBytes &- 1)
    if position > runStart || limit < runStart &+ runBytes {
      breakRun(view, level: level, base: base, runStart: runStart)
      sink.removed(
        start: externalAddress(runStart), size: runBytes, granule: geometry.leafSize)
    }
    return view.load(index)
  }

  /// ``split(_:level:index:entry:slot:)``, kept out of the removal loop.
  @inline(never) @usableFromInline
  func splitOutOfLine(_ view: TableView, level: Int, index: Int, entry: UInt64, slot: UInt64)
    -> Bool
  {
    split(view, level: level, index: index, entry: entry, slot: slot)
  }

  /// Replaces the leaf at `index` (a block of `level`) with a table of the next
  /// level's leaves mapping the same range with the same protection.
  func split(_ view: TableView, level: Int, index: Int, entry: UInt64, slot: UInt64) -> Bool {
    let childLevel = level + 1
    let child = levels[childLevel]
    precondition(
      child.allowsLeaf, "PageTable.split: the level below a block must allow leaves")
    guard let table = memory.allocateTable(byteCount: child.tableBytes) else { return false }
    let protection = format.protection(of: entry, level: level)
    let template: UInt64
    do {
      template = try format.leafTemplate(for: protection, level: childLevel)
    } catch {
      fatalError("PageTable.split: the format cannot re-encode a protection it decoded")
    }
    let base = format.outputAddress(of: entry, level: level, virtualAddress: slot)
    // The smaller leaves keep the TLB benefit of contiguous runs where the level has them
    // (the block is naturally aligned, so every run of the new table is too).
    let run = options.useContiguousRuns ? child.contiguousRun : 1
    let runBytes = child.leafSize &* UInt64(run)
    memory.withTable(at: table, byteCount: child.tableBytes) { newTable in
      for k in 0..<child.entryCount {
        let physicalAddress = base &+ UInt64(k) &* child.leafSize
        var leaf = format.leafEntry(
          template: template, physicalAddress: physicalAddress, level: childLevel)
        if run > 1 {
          leaf = format.contiguousEntry(
            leaf, level: childLevel, runAddress: physicalAddress & ~(runBytes &- 1))
        }
        newTable.store(k, leaf)
      }
      newTable.setWord(UInt64(child.entryCount))
    }
    let replaced = view.compareExchange(
      index, expected: entry, desired: format.tableEntry(pointingTo: table, level: level))
    precondition(
      replaced.exchanged,
      "PageTable.unmap: a block changed while being split (overlapping concurrent operations)")
    return true
  }

  /// Rewrites every member of the contiguous run starting at `runStart` as a plain
  /// leaf (the break of break-before-make is the caller's invalidation).
  func breakRun(_ view: TableView, level: Int, base: UInt64, runStart: UInt64) {
    let geometry = levels[level]
    let first = Int(truncatingIfNeeded: (runStart &- base) >> UInt64(geometry.shift))
    for k in 0..<geometry.contiguousRun {
      let entry = view.load(first &+ k)
      guard format.kind(of: entry, level: level) == .leaf else { continue }
      let memberAddress = runStart &+ UInt64(k) &* geometry.leafSize
      let physicalAddress = format.outputAddress(
        of: entry, level: level, virtualAddress: memberAddress)
      view.store(
        first &+ k,
        format.breakingContiguity(entry, level: level, physicalAddress: physicalAddress))
    }
  }
}
