import PageTables

extension MMUCore {
  /// Translates an access: the TLB first, then a walk that fills it; checks
  /// permissions on the translation found, stale or not (as the hardware would).
  @inline(__always)
  mutating func access(
    _ address: UInt64, _ kind: AccessKind, _ privilege: Privilege, space: Int
  ) throws(MMUFault) -> MMUTranslation {
    event &+= 1
    let tag = spaces[space].tag
    if let slot = tlb.lookup(address, asid: tag.asid, vmid: tag.vmid) {
      let cached = tlb.entries[slot]
      if checking && !hitMatchesMemory(cached, address) {
        reportStaleHit(slot, address: address, space: space, kind, privilege)
      }
      guard Self.permits(cached.protection, kind, privilege) else {
        throw MMUFault(
          kind: .permission, level: cached.level, virtualAddress: address, access: kind)
      }
      return MMUTranslation(
        physicalAddress: cached.output &+ (address &- cached.first),
        size: 1 << UInt64(cached.shift), level: cached.level, protection: cached.protection,
        servedByTLB: true)
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
      synchronize()
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

  /// Whether the TLB entry `cached` still matches the leaf in memory for `address`
  /// (the member of a run that `address` falls in).
  @inline(__always)
  func hitMatchesMemory(_ cached: TLBEntry, _ address: UInt64) -> Bool {
    let level = cached.level
    let member = index(address & indexMask, level: level)
    let current = read(cached.table, level: level, index: member)
    if member == cached.index && current == cached.entry { return true }
    return translationMatches(cached, current, address)
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
