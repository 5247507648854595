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
}

/// How a step of `map` ended.
@usableFromInline
enum MapStatus {
  /// The step's range is mapped.
  case done
  /// A table on the way was dead; walk again from the root.
  case retry
  /// The request cannot be completed.
  case failed(PageTableError)
}

extension PageTable {
  /// Maps `[virtualAddress, virtualAddress + size)` to the physical range starting at
  /// `physicalAddress`, with the largest leaves (blocks, pages, contiguous runs)
  /// that alignment and the format allow.
  ///
  /// Nothing is changed unless everything is mapped: if the range meets an existing
  /// mapping, or table memory runs out, the leaves this call wrote are removed
  /// again before it throws (tables it created stay, empty, and are reused).
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
    enterOperation()
    defer { exitOperation() }
    var cursor = MapCursor(
      virtualAddress: start, physicalAddress: physicalAddress, end: start &+ size,
      protection: protection, templates: templates, ready: 1 << UInt8(pageLevel))
    while cursor.virtualAddress != cursor.end {
      let (rootAddress, base) = root(for: cursor.virtualAddress)
      let status = memory.withTable(at: rootAddress, byteCount: levels[0].tableBytes) { view in
        mapInTable(view, level: 0, base: base, cursor: &cursor)
      }
      switch status {
      case .done, .retry: continue
      case .failed(let error):
        if cursor.virtualAddress != start {
          var rollback = RollbackSink()
          _ = removeRange(start: start, end: cursor.virtualAddress, sink: &rollback)
        }
        throw error
      }
    }
    return size
  }

  /// Maps the part of the cursor's range inside the table `view` (of `level`, whose
  /// index 0 covers `base`), advancing the cursor.
  @usableFromInline
  func mapInTable(_ view: TableView, level: Int, base: UInt64, cursor: inout MapCursor)
    -> MapStatus
  {
    let geometry = levels[level]
    let shift = UInt64(geometry.shift)
    let leafSize = geometry.leafSize
    let limit = min(cursor.end, tableEnd(level: level, base: base))
    var forceDescend = false
    while cursor.virtualAddress < limit {
      let index = Int(truncatingIfNeeded: (cursor.virtualAddress &- base) >> shift)
      if geometry.allowsLeaf && !forceDescend
        && (cursor.virtualAddress | cursor.physicalAddress) & (leafSize &- 1) == 0
        && limit &- cursor.virtualAddress >= leafSize
      {
        let count = Int(
          truncatingIfNeeded: min(
            (limit &- cursor.virtualAddress) >> shift, UInt64(geometry.entryCount &- index)))
        switch writeLeaves(view, level: level, index: index, count: count, cursor: &cursor) {
        case .done: continue
        case .retry: return .retry
        case .failed(let error): return .failed(error)
        case .tableInTheWay: forceDescend = true
        }
        continue
      }
      forceDescend = false
      precondition(level + 1 < levelCount, "PageTable.map: the last level must take a leaf")
      var entry = view.loadAcquiring(index)
      switch format.kind(of: entry, level: level) {
      case .leaf:
        return .failed(.alreadyMapped(virtualAddress: externalAddress(cursor.virtualAddress)))
      case .empty:
        let childBytes = levels[level + 1].tableBytes
        guard let child = memory.allocateTable(byteCount: childBytes) else {
          return .failed(.outOfTableMemory)
        }
        guard reserve(view, 1) else {
          memory.freeTable(at: child, byteCount: childBytes)
          return .retry
        }
        let tableEntry = format.tableEntry(pointingTo: child, level: level)
        let result = view.compareExchange(index, expected: entry, desired: tableEntry)
        if result.exchanged {
          entry = tableEntry
        } else {
          // Another mapper installed a table first: use theirs, free ours.
          _ = view.subtractFromWord(1)
          memory.freeTable(at: child, byteCount: childBytes)
          entry = result.original
          if format.kind(of: entry, level: level) != .table { return .retry }
        }
      case .table:
        break
      }
      let childBase = base &+ (UInt64(index) << shift)
      let status = memory.withTable(
        at: format.tableAddress(of: entry, level: level), byteCount: levels[level + 1].tableBytes
      ) { child in
        mapInTable(child, level: level + 1, base: childBase, cursor: &cursor)
      }
      guard case .done = status else { return status }
    }
    return .done
  }

  @usableFromInline
  enum LeafStatus {
    case done
    case retry
    case failed(PageTableError)
    /// The next slot holds a table: map inside it.
    case tableInTheWay
  }

  /// Writes `count` leaves at `level` from `index`, with contiguous runs where
  /// the format has them and the cursor is aligned.
  @inline(__always)
  @usableFromInline
  func writeLeaves(_ view: TableView, level: Int, index: Int, count: Int, cursor: inout MapCursor)
    -> LeafStatus
  {
    if cursor.ready & (1 << UInt8(level)) == 0 {
      do {
        cursor.templates[level] = try format.leafTemplate(for: cursor.protection, level: level)
        cursor.ready |= 1 << UInt8(level)
      } catch {
        return .failed(error)
      }
    }
    guard reserve(view, UInt64(count)) else { return .retry }
    let geometry = levels[level]
    let leafSize = geometry.leafSize
    let template = cursor.templates[level]
    let run = options.useContiguousRuns ? geometry.contiguousRun : 1
    var written = 0
    var stop: LeafStatus = .done

    if run <= 1 {
      // The common case: consecutive leaves differ by a constant (checked at the end).
      var entry = format.leafEntry(
        template: template, physicalAddress: cursor.physicalAddress, level: level)
      let delta =
        format.leafEntry(
          template: template, physicalAddress: cursor.physicalAddress &+ leafSize, level: level)
        &- entry
      let first = entry
      while written < count {
        let old = view.load(index &+ written)
        if old != 0 {
          stop = leafConflict(old, level: level, at: cursor.virtualAddress, written, leafSize)
          break
        }
        view.store(index &+ written, entry)
        entry &+= delta
        written &+= 1
      }
      if written > 1 {
        let lastAddress = cursor.physicalAddress &+ UInt64(written &- 1) &* leafSize
        let expected = format.leafEntry(
          template: template, physicalAddress: lastAddress, level: level)
        if expected != first &+ UInt64(written &- 1) &* delta {
          // The encoding is not linear over this range (52-bit addresses split
          // across fields): write each entry from its address.
          for k in 0..<written {
            view.store(
              index &+ k,
              format.leafEntry(
                template: template,
                physicalAddress: cursor.physicalAddress &+ UInt64(k) &* leafSize, level: level))
          }
        }
      }
    } else {
      let runBytes = leafSize &* UInt64(run)
      while written < count {
        let virtualAddress = cursor.virtualAddress &+ UInt64(written) &* leafSize
        let physicalAddress = cursor.physicalAddress &+ UInt64(written) &* leafSize
        let slot = index &+ written
        let isRun =
          slot % run == 0 && count &- written >= run
          && (virtualAddress | physicalAddress) & (runBytes &- 1) == 0
        let members = isRun ? run : 1
        var clash = -1
        for k in 0..<members where view.load(slot &+ k) != 0 {
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
    }
    if written < count { _ = view.subtractFromWord(UInt64(count &- written)) }
    let advanced = UInt64(written) &* leafSize
    cursor.virtualAddress &+= advanced
    cursor.physicalAddress &+= advanced
    return stop
  }

  /// What to do about an occupied slot met while writing leaves.
  @inline(__always)
  func leafConflict(
    _ entry: UInt64, level: Int, at start: UInt64, _ written: Int, _ leafSize: UInt64
  )
    -> LeafStatus
  {
    if format.kind(of: entry, level: level) == .table && level + 1 < levelCount {
      return .tableInTheWay
    }
    let address = start &+ UInt64(written) &* leafSize
    return .failed(.alreadyMapped(virtualAddress: externalAddress(address)))
  }
}
