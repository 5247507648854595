/// Where a `map` call has got to, in index space.
@usableFromInline
struct MapCursor {
  @usableFromInline var virtualAddress: UInt64
  @usableFromInline var physicalAddress: UInt64
  @usableFromInline let end: UInt64
  @usableFromInline let protection: Protection
  /// Leaf templates by level, computed on first use (bit `level` of `ready`).
  @usableFromInline var templates: InlineArray<6, UInt64>
  @usableFromInline var ready: UInt8
  /// The tables the map links, allocated when it first needs one.
  @usableFromInline var reserve = MapReserve()
}

/// Why a step of `map` failed. Trivial (no `String` payload, unlike
/// ``PageTableError``), so statuses are passed around in registers; `map` turns it
/// into the error it throws.
@usableFromInline
enum MapFailure {
  /// A leaf (or a table with live entries) is in the way at this external address.
  case alreadyMapped(UInt64)
  /// Table memory ran out.
  case outOfTableMemory
  /// Table memory gave a table the format cannot point at.
  case tableOutOfReach(UInt64)
  /// The format refused the protection at this level (`map` asks it again for the
  /// error to throw).
  case template(level: Int)
  /// A table is needed and the map has not counted and allocated its tables yet
  /// (``PageTable/countTables(start:end:physicalAddress:cursor:into:)``); the
  /// cursor says where to resume.
  case tablesNotReserved
}

/// How a step of `map` ended.
@usableFromInline
enum MapStatus {
  /// The step's range is mapped.
  case done
  /// A table on the way was dead; walk again from the root.
  case retry
  /// The request cannot be completed.
  case failed(MapFailure)
}

extension PageTable {
  /// Maps `[virtualAddress, virtualAddress + size)` to the physical range starting at
  /// `physicalAddress`, with the largest leaves (blocks, pages, contiguous runs)
  /// that alignment and the format allow.
  ///
  /// Nothing is changed unless everything is mapped: if the range meets an existing
  /// mapping, or table memory runs out, the leaves this call wrote are removed
  /// again before it throws, and it linked no table: the tables a map needs are
  /// counted and allocated before it links the first one, so it fails before
  /// (giving them back) or not at all. (A racing unmap of a neighbouring range that
  /// unlinks a table the count relied on makes the map allocate as it goes; only
  /// then can a failure leave an empty table, which an unmap over it frees.)
  /// A leaf is never written over a table: where an empty table is in the way, the
  /// range is mapped with smaller leaves inside it.
  ///
  /// - Returns: the number of bytes mapped (`size`).
  @discardableResult
  public func map(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, protection: Protection
  ) throws(PageTableError) -> UInt64 {
    let start = try locate(virtualAddress, size: size)
    try checkOutput(physicalAddress, size: size)
    // Refuse an unsupported protection before anything changes: every format can
    // express at its page level whatever it can express at all. Larger leaves' templates
    // are computed when first needed.
    var templates = InlineArray<6, UInt64>(repeating: 0)
    let pageLevel = levelCount &- 1
    templates[pageLevel] = try format.leafTemplate(for: protection, level: pageLevel)
    let operation = enterOperation()
    defer { exitOperation(operation) }
    var cursor = MapCursor(
      virtualAddress: start, physicalAddress: physicalAddress, end: start &+ size,
      protection: protection, templates: templates, ready: 1 << UInt8(pageLevel))
    var failure = mapCursorRange(&cursor)
    if case .tablesNotReserved? = failure {
      var demand = TableDemand()
      failure =
        countTables(
          start: cursor.virtualAddress, end: cursor.end, physicalAddress: cursor.physicalAddress,
          cursor: &cursor, into: &demand)
        ?? allocateTables(demand, into: &cursor.reserve) ?? mapCursorRange(&cursor)
      releaseTables(&cursor.reserve)
    }
    if let failure {
      rollBack(start: start, end: cursor.virtualAddress)
      throw mapError(for: failure, protection: protection)
    }
    return size
  }

  /// Maps the cursor's whole range, root by root; the failure that stopped it, if any
  /// (the cursor then says how far it got).
  @inline(__always) @usableFromInline
  func mapCursorRange(_ cursor: inout MapCursor) -> MapFailure? {
    let rootBytes = plan(0).tableBytes
    while cursor.virtualAddress != cursor.end {
      let (rootAddress, base) = root(for: cursor.virtualAddress)
      // SAFETY: the root stays allocated while the table lives.
      let view = unsafe memory.unsafeTable(at: rootAddress, byteCount: rootBytes)
      let status = mapFromRoot(view, base: base, cursor: &cursor)
      switch status {
      case .done, .retry: continue
      case .failed(let failure): return failure
      }
    }
    return nil
  }

  /// Removes the leaves a failed map wrote in `[start, end)` (index space).
  @inline(never) @usableFromInline
  func rollBack(start: UInt64, end: UInt64) {
    guard end != start else { return }
    var rollback = RollbackSink()
    _ = removeRange(start: start, end: end, sink: &rollback)
  }

  /// The error a failed `map` throws.
  @inline(never)
  func mapError(for failure: MapFailure, protection: Protection) -> PageTableError {
    switch failure {
    case .alreadyMapped(let address): return .alreadyMapped(virtualAddress: address)
    case .outOfTableMemory: return .outOfTableMemory
    case .tablesNotReserved:
      fatalError("PageTable.map: tables are reserved once, before any is linked")
    case .tableOutOfReach(let address): return .tableMemoryOutOfReach(physicalAddress: address)
    case .template(let level):
      do {
        _ = try format.leafTemplate(for: protection, level: level)
      } catch {
        return error
      }
      fatalError("PageTable.map: the format's leaf template changed its mind")
    }
  }

  /// Maps the part of the cursor's range inside the root table `view` (whose index 0
  /// covers `base`), advancing the cursor.
  ///
  /// While the rest of the range lies inside one entry and is smaller than it (so
  /// no leaf can go there), this descends in a loop, taking the steps
  /// ``mapInTable(_:level:base:cursor:)`` takes for such an entry (installing a
  /// missing table, refusing a leaf in the way); then it maps inside the table it
  /// reached. A single page costs one loop step per level instead of a call.
  @inline(__always) @usableFromInline
  func mapFromRoot(_ root: TableView, base rootBase: UInt64, cursor: inout MapCursor)
    -> MapStatus
  {
    var view = root
    var level = 0
    var base = rootBase
    while true {
      let geometry = plan(level)
      let first = cursor.virtualAddress
      guard geometry.hasChild, cursor.end &- first < geometry.leafSize,
        (first ^ (cursor.end &- 1)) &>> geometry.shift == 0
      else { break }
      let index = Int(truncatingIfNeeded: (first &- base) &>> geometry.shift)
      var entry = view.loadAcquiring(index)
      switch format.kind(of: entry, level: level) {
      case .leaf:
        return .failed(.alreadyMapped(externalAddress(first)))
      case .empty:
        switch installTable(
          view, level: level, index: index, replacing: entry,
          childBytes: geometry.childTableBytes, cursor: &cursor)
        {
        case .installed(let installed): entry = installed
        case .retry: return .retry
        case .outOfMemory: return .failed(.outOfTableMemory)
        case .notReserved: return .failed(.tablesNotReserved)
        case .outOfReach(let address): return .failed(.tableOutOfReach(address))
        }
      case .table:
        break
      }
      base &+= UInt64(truncatingIfNeeded: index) &<< geometry.shift
      // SAFETY: this operation entered the reclamation counter, so a table it reached
      // is not freed before it finishes, even if a racing unmap unlinks it.
      view = unsafe memory.unsafeTable(
        at: format.tableAddress(of: entry, level: level), byteCount: geometry.childTableBytes)
      level &+= 1
    }
    if let status = mapSingleLeaf(view, level: level, base: base, cursor: &cursor) { return status }
    return mapInTable(view, level: level, base: base, cursor: &cursor)
  }

  /// Maps the part of the cursor's range inside the table `view` (of `level`, whose
  /// index 0 covers `base`), advancing the cursor.
  @usableFromInline
  func mapInTable(_ view: TableView, level: Int, base: UInt64, cursor: inout MapCursor)
    -> MapStatus
  {
    let geometry = plan(level)
    let shift = geometry.shift
    let leafSize = geometry.leafSize
    let limit = min(cursor.end, geometry.tableEnd(base: base))
    var forceDescend = false
    while cursor.virtualAddress < limit {
      let index = Int(truncatingIfNeeded: (cursor.virtualAddress &- base) &>> shift)
      if geometry.allowsLeaf && !forceDescend
        && (cursor.virtualAddress | cursor.physicalAddress) & (leafSize &- 1) == 0
        && limit &- cursor.virtualAddress >= leafSize
      {
        let count = Int(
          truncatingIfNeeded: min(
            (limit &- cursor.virtualAddress) &>> shift, UInt64(geometry.entryCount &- index)))
        switch writeLeaves(view, level: level, index: index, count: count, cursor: &cursor) {
        case .done: continue
        case .retry: return .retry
        case .failed(let failure): return .failed(failure)
        case .tableInTheWay: forceDescend = true
        }
        continue
      }
      forceDescend = false
      precondition(geometry.hasChild, "PageTable.map: the last level must take a leaf")
      let childBytes = geometry.childTableBytes
      var entry = view.loadAcquiring(index)
      let childBase = base &+ (UInt64(truncatingIfNeeded: index) &<< shift)
      if entry == 0 && cursor.virtualAddress == childBase && limit &- childBase >= leafSize
        && plan(level &+ 1).allowsLeaf
        && cursor.physicalAddress & (plan(level &+ 1).leafSize &- 1) == 0
      {
        // The range covers the whole child table with leaves: fill it before it is
        // published, so it needs neither zeroing nor an emptiness scan.
        switch prefillTable(
          view, level: level, index: index, childBytes: childBytes, cursor: &cursor)
        {
        case .published: continue
        case .retry: return .retry
        case .failed(let failure): return .failed(failure)
        case .raced: entry = view.loadAcquiring(index)
        }
      }
      switch format.kind(of: entry, level: level) {
      case .leaf:
        return .failed(.alreadyMapped(externalAddress(cursor.virtualAddress)))
      case .empty:
        switch installTable(
          view, level: level, index: index, replacing: entry, childBytes: childBytes,
          cursor: &cursor)
        {
        case .installed(let installed): entry = installed
        case .retry: return .retry
        case .outOfMemory: return .failed(.outOfTableMemory)
        case .notReserved: return .failed(.tablesNotReserved)
        case .outOfReach(let address): return .failed(.tableOutOfReach(address))
        }
      case .table:
        break
      }
      // SAFETY: this operation entered the reclamation counter, so a table it reached
      // is not freed before it finishes, even if a racing unmap unlinks it.
      let child = unsafe memory.unsafeTable(
        at: format.tableAddress(of: entry, level: level), byteCount: childBytes)
      let status = mapInTable(child, level: level &+ 1, base: childBase, cursor: &cursor)
      guard case .done = status else { return status }
    }
    return .done
  }

  /// What installing a table in an empty slot gave.
  @usableFromInline
  enum InstallResult {
    /// The slot now holds this table entry (ours, or a racing mapper's).
    case installed(UInt64)
    /// The table is dead, or a racing mapper put something else there.
    case retry
    /// No table memory.
    case outOfMemory
    /// The map has not reserved its tables yet.
    case notReserved
    /// The memory gave a table the format cannot point at (freed again).
    case outOfReach(UInt64)
  }

  /// Takes a reserved table (see ``MapReserve``) and installs it in the empty slot
  /// `index` of `view` (of `level`, holding the empty entry `empty`) with
  /// compare-and-swap. Kept out of line so the walk's hot loop stays small.
  @inline(never) @usableFromInline
  func installTable(
    _ view: TableView, level: Int, index: Int, replacing empty: UInt64, childBytes: Int,
    cursor: inout MapCursor
  ) -> InstallResult {
    guard cursor.reserve.isCounted else { return .notReserved }
    let child: UInt64
    if let reserved = takeReservedTable(
      level: level &+ 1, forOverwrite: false, from: &cursor.reserve)
    {
      child = reserved
    } else {
      // A racing unmap unlinked a table the count relied on: allocate as we go.
      guard let allocated = memory.allocateTable(byteCount: childBytes) else {
        return .outOfMemory
      }
      if checksEachTable && isOutOfReach(allocated, byteCount: childBytes, level: level) {
        memory.freeTable(at: allocated, byteCount: childBytes)
        return .outOfReach(allocated)
      }
      child = allocated
    }
    guard reserve(view, 1) else {
      returnReservedTable(child, level: level &+ 1, into: &cursor.reserve)
      return .retry
    }
    let tableEntry = format.tableEntry(pointingTo: child, level: level)
    let result = publish(view, index, expected: empty, desired: tableEntry)
    if result.exchanged { return .installed(tableEntry) }
    // Another mapper installed a table first: use theirs, keep ours for later.
    _ = releaseEntries(view, 1)
    returnReservedTable(child, level: level &+ 1, into: &cursor.reserve)
    guard format.kind(of: result.original, level: level) == .table else { return .retry }
    return .installed(result.original)
  }

  /// What filling a table before publishing it gave.
  @usableFromInline
  enum PrefillResult {
    /// The filled table is in the slot; the cursor moved past it.
    case published
    /// The parent is dead: walk again from the root (cursor unchanged).
    case retry
    /// No table memory, or the protection cannot be expressed at the child level.
    case failed(MapFailure)
    /// Another mapper filled the slot first: carry on with what is there.
    case raced
  }

  /// Takes a reserved child table for the empty slot `index` of `view` (allocated
  /// without zeroing), writes all its leaves from the cursor, and installs it with
  /// compare-and-swap. Nobody can see the table before the swap, so no entry is
  /// read; if the swap fails the table is cleared and put back and the cursor
  /// restored.
  @inline(never) @usableFromInline
  func prefillTable(
    _ view: TableView, level: Int, index: Int, childBytes: Int, cursor: inout MapCursor
  ) -> PrefillResult {
    guard cursor.reserve.isCounted else { return .failed(.tablesNotReserved) }
    let childLevel = level &+ 1
    if cursor.ready & (1 << UInt8(truncatingIfNeeded: childLevel)) == 0 {
      guard prepareTemplate(level: childLevel, cursor: &cursor) else {
        return .failed(.template(level: childLevel))
      }
    }
    let child: UInt64
    if let reserved = takeReservedTable(
      level: childLevel, forOverwrite: true, from: &cursor.reserve)
    {
      child = reserved
    } else {
      // A racing unmap unlinked a table the count relied on: allocate as we go.
      guard let allocated = memory.allocateTableForOverwrite(byteCount: childBytes) else {
        return .failed(.outOfTableMemory)
      }
      if checksEachTable && isOutOfReach(allocated, byteCount: childBytes, level: level) {
        // Not written yet: zero it before giving it back.
        // SAFETY: the table was just allocated and is not reachable by anyone else.
        discardUnpublished(
          unsafe memory.unsafeTable(at: allocated, byteCount: childBytes), at: allocated,
          byteCount: childBytes)
        return .failed(.tableOutOfReach(allocated))
      }
      child = allocated
    }
    // SAFETY: the table was just taken and is not yet reachable by anyone else.
    let table = unsafe memory.unsafeTable(at: child, byteCount: childBytes)
    let saved = cursor
    let count = plan(childLevel).entryCount
    switch writeLeaves(
      table, level: childLevel, index: 0, count: count, cursor: &cursor, fresh: true)
    {
    case .done: break
    default: fatalError("PageTable.map: filling an unpublished table cannot conflict")
    }
    var outcome = PrefillResult.retry
    if reserve(view, 1) {
      let result = publish(
        view, index, expected: 0, desired: format.tableEntry(pointingTo: child, level: level))
      if result.exchanged { return .published }
      _ = releaseEntries(view, 1)
      outcome = .raced
    }
    table.storeLinear(from: 0, count: table.count, first: 0, delta: 0)
    table.setWord(0)
    cursor = saved
    returnReservedTable(child, level: childLevel, into: &cursor.reserve)
    return outcome
  }

  /// Clears and frees a table that was never published.
  @inline(never)
  func discardUnpublished(_ table: TableView, at address: UInt64, byteCount: Int) {
    table.storeLinear(from: 0, count: table.count, first: 0, delta: 0)
    table.setWord(0)
    memory.freeTable(at: address, byteCount: byteCount)
  }

  @usableFromInline
  enum LeafStatus {
    case done
    case retry
    case failed(MapFailure)
    /// The next slot holds a table: map inside it.
    case tableInTheWay
  }

  /// Writes `count` leaves at `level` from `index`, with contiguous runs where
  /// the format has them and the cursor is aligned.
  @inline(__always)
  @usableFromInline
  func writeLeaves(
    _ view: TableView, level: Int, index: Int, count: Int, cursor: inout MapCursor,
    fresh: Bool = false
  ) -> LeafStatus {
    if cursor.ready & (1 << UInt8(truncatingIfNeeded: level)) == 0 {
      guard prepareTemplate(level: level, cursor: &cursor) else {
        return .failed(.template(level: level))
      }
    }
    guard reserve(view, UInt64(count)) else { return .retry }
    let geometry = plan(level)
    let leafSize = geometry.leafSize
    let template = unsafe cursor.templates[unchecked: level]
    let run = options.useContiguousRuns ? geometry.contiguousRun : 1
    var written = 0
    var stop: LeafStatus = .done

    let runBytes = leafSize &* UInt64(truncatingIfNeeded: run)
    // A run forms only where the virtual and physical addresses agree modulo its
    // size; both advance together, so that holds for the whole batch or never.
    // And none forms where no run-aligned stretch of `run` slots fits in the batch.
    let firstRunSlot = run <= 1 ? 0 : (index &+ run &- 1) / run &* run
    if run <= 1 || (cursor.virtualAddress ^ cursor.physicalAddress) & (runBytes &- 1) != 0
      || firstRunSlot &+ run > index &+ count
    {
      // The common case: empty slots, and consecutive leaves that differ by a
      // constant. Scan, then store, both in tight loops.
      var free = count
      // A fresh table (not yet published, entries not yet written) is empty by
      // construction: its slots are not read at all.
      if !fresh && !view.areEmpty(from: index, count: count) {
        free = 0
        while view.load(index &+ free) == 0 { free &+= 1 }
      }
      if free > 0 {
        let first = format.leafEntry(
          template: template, physicalAddress: cursor.physicalAddress, level: level)
        let delta =
          format.leafEntry(
            template: template, physicalAddress: cursor.physicalAddress &+ leafSize,
            level: level) &- first
        let last = format.leafEntry(
          template: template,
          physicalAddress: cursor.physicalAddress &+ UInt64(truncatingIfNeeded: free &- 1)
            &* leafSize, level: level)
        if last == first &+ UInt64(truncatingIfNeeded: free &- 1) &* delta {
          view.storeLinear(from: index, count: free, first: first, delta: delta)
        } else {
          // The encoding is not linear over this range (52-bit addresses split
          // across fields): write each entry from its address.
          for k in 0..<free {
            view.store(
              index &+ k,
              format.leafEntry(
                template: template,
                physicalAddress: cursor.physicalAddress &+ UInt64(truncatingIfNeeded: k)
                  &* leafSize, level: level))
          }
        }
      }
      written = free
      if free < count {
        stop = leafConflict(
          view.load(index &+ free), level: level, at: cursor.virtualAddress, written, leafSize)
      }
    } else {
      (written, stop) = writeRuns(
        view, level: level, index: index, count: count, template: template, run: run,
        cursor: cursor, fresh: fresh)
    }
    if written < count { _ = releaseEntries(view, UInt64(count &- written)) }
    let advanced = UInt64(written) &* leafSize
    cursor.virtualAddress &+= advanced
    cursor.physicalAddress &+= advanced
    return stop
  }

  /// Writes `count` leaves at `level` from `index` where contiguous runs can form:
  /// runs where the slot and the addresses are aligned, single leaves elsewhere.
  /// Returns how many were written and why it stopped. Out of line: the
  /// per-member encoding is kept away from the plain-leaf hot path.
  @inline(never) @usableFromInline
  func writeRuns(
    _ view: TableView, level: Int, index: Int, count: Int, template: UInt64, run: Int,
    cursor: MapCursor, fresh: Bool
  ) -> (written: Int, stop: LeafStatus) {
    let leafSize = plan(level).leafSize
    let runBytes = leafSize &* UInt64(truncatingIfNeeded: run)
    if index % run == 0 && count % run == 0
      && (cursor.virtualAddress | cursor.physicalAddress) & (runBytes &- 1) == 0
      && (fresh || view.areEmpty(from: index, count: count))
      && storeRuns(
        view, level: level, index: index, count: count, template: template, run: run,
        physicalAddress: cursor.physicalAddress)
    {
      return (count, .done)
    }
    var written = 0
    var stop: LeafStatus = .done
    while written < count {
      let virtualAddress = cursor.virtualAddress &+ UInt64(written) &* leafSize
      let physicalAddress = cursor.physicalAddress &+ UInt64(written) &* leafSize
      let slot = index &+ written
      let isRun =
        slot % run == 0 && count &- written >= run
        && (virtualAddress | physicalAddress) & (runBytes &- 1) == 0
      let members = isRun ? run : 1
      var clash = -1
      for k in 0..<members where !fresh && view.load(slot &+ k) != 0 {
        clash = k
        break
      }
      if clash >= 0 {
        if isRun {
          // Map the members before the clash one by one, then stop at it.
          for k in 0..<clash {
            view.store(
              slot &+ k,
              format.leafEntry(
                template: template, physicalAddress: physicalAddress &+ UInt64(k) &* leafSize,
                level: level))
          }
          written &+= clash
        }
        stop = leafConflict(
          view.load(index &+ written), level: level, at: cursor.virtualAddress, written,
          leafSize)
        break
      }
      for k in 0..<members {
        var entry = format.leafEntry(
          template: template, physicalAddress: physicalAddress &+ UInt64(k) &* leafSize,
          level: level)
        if isRun {
          entry = format.contiguousEntry(entry, level: level, runAddress: physicalAddress)
        }
        view.store(slot &+ k, entry)
      }
      written &+= members
    }
    return (written, stop)
  }

  /// Writes `count / run` whole contiguous runs into the empty slots from `index`
  /// (run-aligned, as are the addresses): the first run member by member through
  /// the format, every later one as the first plus a constant per run, checked
  /// against the format at the last run's ends before anything is stored (false,
  /// with nothing stored, where the encoding is not linear).
  @inline(__always)
  func storeRuns(
    _ view: TableView, level: Int, index: Int, count: Int, template: UInt64, run: Int,
    physicalAddress: UInt64
  ) -> Bool {
    let leafSize = plan(level).leafSize
    let runBytes = leafSize &* UInt64(truncatingIfNeeded: run)
    func member(_ runAddress: UInt64, _ k: Int) -> UInt64 {
      format.contiguousEntry(
        format.leafEntry(
          template: template,
          physicalAddress: runAddress &+ UInt64(truncatingIfNeeded: k)
            &* leafSize, level: level), level: level, runAddress: runAddress)
    }
    let runs = count / run
    let lastRun = physicalAddress &+ UInt64(truncatingIfNeeded: runs &- 1) &* runBytes
    let delta = runs > 1 ? member(physicalAddress &+ runBytes, 0) &- member(physicalAddress, 0) : 0
    let spread = UInt64(truncatingIfNeeded: runs &- 1) &* delta
    guard member(lastRun, 0) == member(physicalAddress, 0) &+ spread,
      member(lastRun, run &- 1) == member(physicalAddress, run &- 1) &+ spread
    else { return false }
    for k in 0..<run { view.store(index &+ k, member(physicalAddress, k)) }
    view.repeatRuns(from: index, runs: runs, run: run, delta: delta)
    return true
  }

  /// Computes the leaf template of `level` into the cursor (first use of a level);
  /// false if the format refuses the protection there. Out of line, like every
  /// rarely taken call into the format, so the hot functions stay small.
  @inline(never) @usableFromInline
  func prepareTemplate(level: Int, cursor: inout MapCursor) -> Bool {
    do {
      cursor.templates[level] = try format.leafTemplate(for: cursor.protection, level: level)
      cursor.ready |= 1 << UInt8(truncatingIfNeeded: level)
      return true
    } catch {
      return false
    }
  }

  /// What to do about an occupied slot met while writing leaves.
  @inline(never) @usableFromInline
  func leafConflict(
    _ entry: UInt64, level: Int, at start: UInt64, _ written: Int, _ leafSize: UInt64
  )
    -> LeafStatus
  {
    if format.kind(of: entry, level: level) == .table && plan(level).hasChild {
      return .tableInTheWay
    }
    let address = start &+ UInt64(written) &* leafSize
    return .failed(.alreadyMapped(externalAddress(address)))
  }
}
