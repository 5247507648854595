import PageTables

extension MMUCore {
  /// Translates an access: the TLB first, then a walk that fills it; checks
  /// permissions on the translation found, stale or not (as the hardware would).
  @inline(__always)
  mutating func access(
    _ address: UInt64, _ kind: AccessKind, _ privilege: Privilege, space: Int
  ) throws(MMUFault) -> MMUTranslation {
    event &+= 1
    let asid = spaces[space].tag.asid
    let vmid = spaces[space].tag.vmid
    if let slot = tlb.lookup(address, asid: asid, vmid: vmid) {
      if checking && !hitMatchesMemory(slot, address) {
        reportStaleHit(slot, address: address, space: space, kind, privilege)
      }
      let protection = tlb.entries[slot].protection
      let level = tlb.entries[slot].level
      guard Self.permits(protection, kind, privilege) else {
        throw MMUFault(kind: .permission, level: level, virtualAddress: address, access: kind)
      }
      let shift = UInt64(tlb.entries[slot].shift)
      return MMUTranslation(
        physicalAddress: tlb.entries[slot].output &+ (address & ((1 << shift) &- 1)),
        size: 1 << shift, level: level, protection: protection, servedByTLB: true)
    }
    return try miss(address, kind, privilege, space: space)
  }

  /// The TLB-miss path: look at memory (checker), then walk and fill.
  @inline(never)
  mutating func miss(_ address: UInt64, _ kind: AccessKind, _ privilege: Privilege, space: Int)
    throws(MMUFault) -> MMUTranslation
  {
    operation = .access(kind, privilege)
    if checking {
      // Look at the whole of memory only if the path to this address changed since
      // the model last looked: other changes are judged at the next invalidation.
      if !pathMatchesShadow(address, space: space) { synchronize() }
      if configuration.assumeSpeculativeFills {
        reportSpeculativeStale(address, space: space, .access(kind, privilege))
      }
    }
    let result = try walk(address, space: space, access: kind)
    let entry = result.entry
    tlb.fill(entry)
    guard Self.permits(entry.protection, kind, privilege) else {
      throw MMUFault(kind: .permission, level: entry.level, virtualAddress: address, access: kind)
    }
    return MMUTranslation(
      physicalAddress: result.physicalAddress, size: 1 << UInt64(entry.shift), level: entry.level,
      protection: entry.protection, servedByTLB: false)
  }

  /// Whether every entry on the path from `space`'s root to `address` still holds
  /// what the model's copies hold (so looking at all of memory can wait).
  func pathMatchesShadow(_ address: UInt64, space: Int) -> Bool {
    guard windows.contains(where: { $0.contains(address) }) else { return true }
    let roots = spaces[space].roots
    let indexAddress = address & indexMask
    var table =
      roots[Int(truncatingIfNeeded: indexAddress >> UInt64(rootCoverageBits)) & (roots.count - 1)]
    for level in 0..<depth {
      guard let shadow = shadows[table], shadow.live else { return false }
      let slot = index(indexAddress, level: level)
      let entry = read(table, level: level, index: slot)
      guard entry == shadow.entries[slot] else { return false }
      guard format.kind(of: entry, level: level) == .table else { return true }
      table = format.tableAddress(of: entry, level: level)
    }
    return true
  }

  /// Whether the TLB entry in `slot` still matches the leaf in memory for `address`
  /// (the member of a run that `address` falls in).
  @inline(__always)
  func hitMatchesMemory(_ slot: Int, _ address: UInt64) -> Bool {
    let level = tlb.entries[slot].level
    let walked = tlb.entries[slot].index
    let member = index(address & indexMask, level: level)
    let current = read(tlb.entries[slot].table, level: level, index: member)
    // The member the walk read, or another whose raw entry is what the run's
    // spacing predicts: equal, so unchanged. Anything else is decoded and compared.
    let predicted =
      tlb.entries[slot].entry &+ UInt64(bitPattern: Int64(member &- walked))
      &* tlb.entries[slot].memberDelta
    if current == predicted { return true }
    return translationMatches(tlb.entries[slot], current, address)
  }

  /// Whether `current` (the leaf for `address`) translates `address` as `cached` does.
  func translationMatches(_ cached: TLBEntry, _ current: UInt64, _ address: UInt64) -> Bool {
    let level = cached.level
    guard format.kind(of: current, level: level) == .leaf else { return false }
    let output = format.outputAddress(
      of: current, level: level, virtualAddress: address & indexMask)
    return output == cached.output &+ (address &- cached.first)
      && format.protection(of: current, level: level) == cached.protection
  }
}
