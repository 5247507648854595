/// Tables allocated before an operation changes anything, for the blocks it will
/// split: an operation that cannot get them all fails with nothing changed.
struct SplitReserve: ~Copyable {
  /// At most two boundaries, each split through at most five levels.
  static var capacity: Int { 10 }
  var addresses = InlineArray<10, UInt64>(repeating: 0)
  var sizes = InlineArray<10, Int>(repeating: 0)
  var count = 0
  /// A table the memory gave that the format cannot point at (given back), which
  /// made the reservation fail; 0 if it failed for lack of memory.
  var unreachable: UInt64 = 0

  /// The error a failed reservation throws.
  var error: PageTableError {
    unreachable != 0 ? .tableMemoryOutOfReach(physicalAddress: unreachable) : .outOfTableMemory
  }

  /// Whether nothing was reserved.
  var isEmpty: Bool { count == 0 }

  mutating func append(_ address: UInt64, byteCount: Int) {
    precondition(count < Self.capacity, "SplitReserve: more than two boundaries' tables")
    addresses[count] = address
    sizes[count] = byteCount
    count += 1
  }

  /// Takes a reserved table of `byteCount` bytes.
  mutating func take(byteCount: Int) -> UInt64 {
    for i in 0..<count where sizes[i] == byteCount {
      let address = addresses[i]
      count -= 1
      addresses[i] = addresses[count]
      sizes[i] = sizes[count]
      return address
    }
    fatalError("PageTable.split: a table needed by a split was not reserved")
  }

  /// Frees what was not used.
  mutating func release<Memory: TableMemory>(to memory: Memory) {
    for i in 0..<count { memory.freeTable(at: addresses[i], byteCount: sizes[i]) }
    count = 0
  }

  deinit {
    precondition(count == 0, "SplitReserve: reserved tables must be used or released")
  }
}

extension PageTable {
  /// Makes `virtualAddress` a boundary between leaves without unmapping anything:
  /// a block (or contiguous run) that spans it is split into smaller leaves down
  /// to the size at which the address is a leaf edge. A later `unmap` (or
  /// `protect`) of the range on either side then allocates nothing and cannot
  /// fail for lack of table memory: the prepare phase of a GPU VM bind, or
  /// generic_pt's `cut_mapping`.
  ///
  /// ```swift
  /// try table.map(virtualAddress: 0x4000_0000, physicalAddress: 0x8000_0000,
  ///               size: 0x20_0000, protection: .readWrite)        // one 2 MiB block
  /// var gather = TLBGather(invalidator: myTLB)
  /// try table.split(at: 0x4010_0000, gather: &gather)            // 512 pages now
  /// table.flush(&gather)
  /// try table.unmap(virtualAddress: 0x4010_0000, size: 0x10_0000, gather: &gather)  // allocates nothing
  /// ```
  ///
  /// Translations do not change. The replaced block is invalidated through
  /// `gather`'s invalidator during the call (see ``LiveEntryRule``: on ARM64
  /// without FEAT_BBM level 2 the block's range faults between the break and the
  /// make). Each smaller leaf keeps the block's protection (software bits and
  /// attribute index included) and its accessed and dirty state.
  ///
  /// - Returns: whether anything was split or broken (`false` if the address was
  ///   already a boundary, or nothing is mapped there).
  /// - Throws: ``PageTableError/misalignedVirtualAddress(_:)``,
  ///   ``PageTableError/virtualAddressOutOfRange(_:)``, or
  ///   ``PageTableError/outOfTableMemory`` with nothing changed.
  @discardableResult
  public func split<Invalidator: TLBInvalidator>(
    at virtualAddress: UInt64, gather: inout TLBGather<Invalidator>
  ) throws(PageTableError) -> Bool {
    guard virtualAddress & (granule &- 1) == 0 else {
      throw .misalignedVirtualAddress(virtualAddress)
    }
    guard isInsideWindow(virtualAddress, virtualAddress) else {
      throw .virtualAddressOutOfRange(virtualAddress)
    }
    let boundary = virtualAddress & indexMask
    let operation = enterOperation()
    defer { exitOperation(operation) }
    let (rootAddress, base) = root(for: boundary)
    // SAFETY: the root stays allocated while the table lives.
    let view = unsafe memory.unsafeTable(at: rootAddress, byteCount: plan(0).tableBytes)
    var reserve = SplitReserve()
    guard reserveSplits(view, level: 0, base: base, at: boundary, into: &reserve) else {
      reserve.release(to: memory)
      throw reserve.error
    }
    let changed = splitDown(
      view, level: 0, base: base, at: boundary, reserve: &reserve, breakingRuns: true,
      sink: &gather)
    reserve.release(to: memory)
    return changed
  }

  /// Makes `start` and `end` (index space, inside the table `view` of `level` based
  /// at `base`) leaf boundaries, all or nothing: the tables every split needs are
  /// allocated first; if one is missing, nothing changes and the error says why.
  /// Contiguous runs are left to the caller (breaking one allocates nothing).
  @inline(never)
  func splitBoundaries<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, base: UInt64, start: UInt64, end: UInt64, sink: inout Sink
  ) -> PageTableError? {
    var reserve = SplitReserve()
    let endInside = end != plan(level).tableEnd(base: base)
    guard reserveSplits(view, level: level, base: base, at: start, into: &reserve),
      !endInside || reserveSplits(view, level: level, base: base, at: end, into: &reserve)
    else {
      reserve.release(to: memory)
      return reserve.error
    }
    if !reserve.isEmpty {
      splitDown(
        view, level: level, base: base, at: start, reserve: &reserve, breakingRuns: false,
        sink: &sink)
      if endInside {
        splitDown(
          view, level: level, base: base, at: end, reserve: &reserve, breakingRuns: false,
          sink: &sink)
      }
    }
    reserve.release(to: memory)
    return nil
  }

  /// Allocates into `reserve` the tables that splitting down to `boundary` needs,
  /// walking from the table `view` of `level` based at `base`; false if memory ran
  /// out (what was reserved stays in `reserve`).
  func reserveSplits(
    _ view: TableView, level: Int, base: UInt64, at boundary: UInt64,
    into reserve: inout SplitReserve
  ) -> Bool {
    var view = view
    var level = level
    var base = base
    while true {
      let geometry = plan(level)
      if boundary & (geometry.leafSize &- 1) == 0 { return true }
      let index = Int(truncatingIfNeeded: (boundary &- base) >> geometry.shift)
      let entry = view.loadAcquiring(index)
      switch format.kind(of: entry, level: level) {
      case .empty:
        return true
      case .table:
        base &+= UInt64(truncatingIfNeeded: index) << geometry.shift
        // SAFETY: this operation entered the reclamation counter, so a table it
        // reached is not freed before it finishes.
        view = unsafe memory.unsafeTable(
          at: format.tableAddress(of: entry, level: level), byteCount: geometry.childTableBytes)
        level &+= 1
      case .leaf:
        // One table per level until the boundary is an edge of the leaves.
        var splitLevel = level
        while boundary & (plan(splitLevel).leafSize &- 1) != 0 {
          let bytes = plan(splitLevel).childTableBytes
          guard let table = memory.allocateTable(byteCount: bytes) else { return false }
          if checksEachTable && isOutOfReach(table, byteCount: bytes, level: splitLevel) {
            memory.freeTable(at: table, byteCount: bytes)
            reserve.unreachable = table
            return false
          }
          reserve.append(table, byteCount: bytes)
          splitLevel &+= 1
        }
        return true
      }
    }
  }

  /// Splits the blocks that span `boundary` below the table `view` (of `level`,
  /// based at `base`) with tables from `reserve`, and with `breakingRuns` the
  /// contiguous run that spans it. Returns whether anything changed.
  @discardableResult
  func splitDown<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, base: UInt64, at boundary: UInt64,
    reserve: inout SplitReserve, breakingRuns: Bool, sink: inout Sink
  ) -> Bool {
    var view = view
    var level = level
    var base = base
    var changed = false
    while true {
      let geometry = plan(level)
      let index = Int(truncatingIfNeeded: (boundary &- base) >> geometry.shift)
      if boundary & (geometry.leafSize &- 1) == 0 {
        let run = geometry.contiguousRun
        let runBytes = geometry.leafSize &* UInt64(truncatingIfNeeded: run)
        if breakingRuns && run > 1 && boundary & (runBytes &- 1) != 0 {
          let entry = view.load(index)
          if format.kind(of: entry, level: level) == .leaf
            && format.isContiguous(entry, level: level)
          {
            breakRun(
              view, level: level, base: base, runStart: boundary & ~(runBytes &- 1), sink: &sink)
            changed = true
          }
        }
        return changed
      }
      let slot = base &+ (UInt64(truncatingIfNeeded: index) << geometry.shift)
      var entry = view.loadAcquiring(index)
      switch format.kind(of: entry, level: level) {
      case .empty:
        return changed
      case .leaf:
        if geometry.contiguousRun > 1 && format.isContiguous(entry, level: level) {
          // A run member cannot become a table while its run stands.
          let runBytes = geometry.leafSize &* UInt64(truncatingIfNeeded: geometry.contiguousRun)
          breakRun(view, level: level, base: base, runStart: slot & ~(runBytes &- 1), sink: &sink)
        }
        let child = reserve.take(byteCount: geometry.childTableBytes)
        replaceBlock(view, level: level, index: index, slot: slot, with: child, sink: &sink)
        entry = format.tableEntry(pointingTo: child, level: level)
        changed = true
      case .table:
        break
      }
      base = slot
      // SAFETY: this operation entered the reclamation counter, so a table it reached
      // is not freed before it finishes (and a table it just installed is live).
      view = unsafe memory.unsafeTable(
        at: format.tableAddress(of: entry, level: level), byteCount: geometry.childTableBytes)
      level &+= 1
    }
  }
}
