import PageTables

/// What a walk found: the leaf, where it was read, and the TLB entry it makes.
struct WalkResult {
  var physicalAddress: UInt64
  var entry: TLBEntry
}

extension MMUCore {
  /// Walks the tables of `space` for `address` as the hardware does: from the
  /// deepest walk-cache hit (or the root), one entry read per level, decoding each
  /// with the format's `kind`, `tableAddress`, `outputAddress`, `protection` and
  /// `isContiguous`, checking output sizes; fills the walk caches on the way.
  ///
  /// This is the model's own walker: it uses only the format description and the
  /// table memory, never the engine's walk code.
  mutating func walk(_ address: UInt64, space: Int, access: AccessKind) throws(MMUFault)
    -> WalkResult
  {
    let state = spaces[space]
    let tag = state.tag
    guard windows.contains(where: { $0.contains(address) }) else {
      throw MMUFault(kind: .translation, level: 0, virtualAddress: address, access: access)
    }
    let indexAddress = address & indexMask
    let rootIndex = Int(truncatingIfNeeded: indexAddress >> UInt64(rootCoverageBits))
    var table = state.roots[rootIndex & (state.roots.count - 1)]
    var level = 0
    if let hit = walkCache.deepest(
      address, asid: tag.asid, vmid: tag.vmid, shifts: shifts, depth: depth)
    {
      let cached = walkCache[hit.level, hit.slot]
      if checking { checkWalkCacheHit(cached, address: address, space: space, access: access) }
      table = cached.table
      level = hit.level
    }
    while true {
      let slot = index(indexAddress, level: level)
      let entry = read(table, level: level, index: slot)
      switch format.kind(of: entry, level: level) {
      case .empty:
        throw MMUFault(kind: .translation, level: level, virtualAddress: address, access: access)
      case .table:
        guard level + 1 < depth else {
          throw MMUFault(kind: .translation, level: level, virtualAddress: address, access: access)
        }
        let next = format.tableAddress(of: entry, level: level)
        guard next < outputLimit else {
          throw MMUFault(kind: .addressSize, level: level, virtualAddress: address, access: access)
        }
        walkCache.fill(
          WalkCacheEntry(
            vmid: tag.vmid, asid: tag.asid, space: space, level: level + 1,
            prefix: address >> UInt64(shifts[level]), shift: shifts[level], table: next,
            entry: entry, parentTable: table, parentIndex: slot, cachedAt: event))
        table = next
        level += 1
      case .leaf:
        guard levels[level].allowsLeaf else {
          throw MMUFault(kind: .translation, level: level, virtualAddress: address, access: access)
        }
        let output = format.outputAddress(of: entry, level: level, virtualAddress: indexAddress)
        guard output < outputLimit else {
          throw MMUFault(kind: .addressSize, level: level, virtualAddress: address, access: access)
        }
        let protection = format.protection(of: entry, level: level)
        var shift = shifts[level]
        var memberDelta: UInt64 = 0
        let run = levels[level].contiguousRun
        if configuration.cacheContiguousRuns && run > 1 && format.isContiguous(entry, level: level)
        {
          shift += run.trailingZeroBitCount
          // The spacing of members' raw entries, from the neighbour in the run (a
          // prediction the hit check confirms or falls back from).
          let neighbour = read(table, level: level, index: slot ^ 1)
          memberDelta = slot & 1 == 0 ? neighbour &- entry : entry &- neighbour
        }
        let offset = address & ((1 << UInt64(shift)) - 1)
        let cached = TLBEntry(
          page: address >> UInt64(shift), shift: shift, global: protection.global,
          asid: tag.asid, vmid: tag.vmid, space: space, level: level, output: output &- offset,
          protection: protection, entry: entry, table: table, index: slot,
          memberDelta: memberDelta, cachedAt: event)
        return WalkResult(physicalAddress: output, entry: cached)
      }
    }
  }

  /// Whether `protection` lets `privilege` make an access of `kind`.
  @inline(__always)
  static func permits(_ protection: Protection, _ kind: AccessKind, _ privilege: Privilege) -> Bool
  {
    if privilege == .user && !protection.user { return false }
    switch kind {
    case .read: return protection.read
    case .write: return protection.write
    // Execute is granted to the agent `user` selects (PXN for user pages, UXN for
    // privileged ones, as Linux sets them).
    case .execute: return protection.execute && (privilege == .user) == protection.user
    }
  }
}
