import PageTables

extension MMUCore {
  /// Translates an access: the micro-TLB of its kind first, then the TLB, then a
  /// walk that fills both; checks permissions on the translation found, stale or
  /// not (as the hardware would).
  @inlinable @inline(__always)
  mutating func access(
    _ address: UInt64, _ kind: AccessKind, _ privilege: Privilege, space: Int
  ) throws(MMUFault) -> MMUTranslation {
    event &+= 1
    let tag = address >> UInt64(tlb.micro.pageShift)
    let line = tlb.micro.position(tag, kind)
    // A micro-TLB hit: the page, the space, the TLB entry and the right match, and (when checking)
    // the leaf in memory is still the one the line was checked against.
    if tlb.micro.lines[line].tag == tag && tlb.micro.lines[line].space == space
      && tlb.cache.lines[tlb.micro.lines[line].slot].cachedAt == tlb.micro.lines[line].cachedAt
      && (privilege == .user
        ? tlb.micro.lines[line].allowsUser : tlb.micro.lines[line].allowsPrivileged)
      && (!checking || microLineMatchesMemory(line))
    {
      let slot = tlb.micro.lines[line].slot
      tlb.cache.touch(slot)
      let pageMask: UInt64 = (1 << UInt64(tlb.micro.pageShift)) &- 1
      return MMUTranslation(
        physicalAddress: tlb.micro.lines[line].physical | (address & pageMask),
        size: 1 << UInt64(tlb.cache.lines[slot].shift), level: tlb.cache.lines[slot].level,
        protection: tlb.cache.lines[slot].protection, servedByTLB: true)
    }
    return try tlbAccess(address, kind, privilege, space: space, line: line)
  }

  /// Whether the leaf micro-TLB line `line` was checked against still holds what it
  /// held then (one entry read).
  @inlinable @inline(__always)
  func microLineMatchesMemory(_ line: Int) -> Bool {
    let table = tlb.micro.lines[line].table
    let index = tlb.micro.lines[line].index
    let bytes = tlb.micro.lines[line].tableBytes
    return memory.withTable(at: table, byteCount: bytes) { $0.loadAcquiring(index) }
      == tlb.micro.lines[line].expected
  }

  /// The TLB path: a hit is checked against memory (when checking) and copied into
  /// the micro-TLB line `line`; a miss walks.
  @usableFromInline @inline(never)
  mutating func tlbAccess(
    _ address: UInt64, _ kind: AccessKind, _ privilege: Privilege, space: Int, line: Int
  ) throws(MMUFault) -> MMUTranslation {
    let asid = spaces[space].tag.asid
    let vmid = spaces[space].tag.vmid
    guard let slot = tlb.lookup(address, asid: asid, vmid: vmid) else {
      return try miss(address, kind, privilege, space: space, line: line)
    }
    let cached = tlb[slot]
    let member = index(address & indexMask, level: cached.level)
    let current = checking ? read(cached.table, level: cached.level, index: member) : 0
    var fresh = true
    if checking && !hitMatchesMemory(cached, address, member: member, current: current) {
      fresh = false
      reportStaleHit(slot, address: address, space: space, kind, privilege)
    }
    guard Self.permits(cached.protection, kind, privilege) else {
      throw MMUFault(kind: .permission, level: cached.level, virtualAddress: address, access: kind)
    }
    let physical = cached.output &+ (address &- cached.first)
    // A stale translation stays out of the micro-TLB: every use of it is checked.
    if fresh { fillMicro(line, address, kind, space: space, slot: slot, member, current) }
    return MMUTranslation(
      physicalAddress: physical, size: 1 << UInt64(cached.shift), level: cached.level,
      protection: cached.protection, servedByTLB: true)
  }

  /// Copies the translation in TLB slot `slot` of `address` into micro-TLB line
  /// `line`, with the leaf `current` read at index `member` of its table.
  @inline(__always)
  mutating func fillMicro(
    _ line: Int, _ address: UInt64, _ kind: AccessKind, space: Int, slot: Int, _ member: Int,
    _ current: UInt64
  ) {
    let cached = tlb[slot]
    let pageShift = UInt64(tlb.micro.pageShift)
    let page = (address >> pageShift) << pageShift
    tlb.micro.lines[line] = MicroTLB.Line(
      tag: address >> pageShift, space: space, slot: slot, cachedAt: cached.cachedAt,
      physical: cached.output &+ (page &- cached.first),
      allowsPrivileged: Self.permits(cached.protection, kind, .privileged),
      allowsUser: Self.permits(cached.protection, kind, .user), table: cached.table,
      tableBytes: tableBytes[cached.level], index: member, expected: current)
  }

  /// The TLB-miss path: look at memory (checker), then walk and fill.
  @inline(never)
  mutating func miss(
    _ address: UInt64, _ kind: AccessKind, _ privilege: Privilege, space: Int, line: Int
  )
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
    let slot = tlb.fill(entry)
    guard Self.permits(entry.protection, kind, privilege) else {
      throw MMUFault(kind: .permission, level: entry.level, virtualAddress: address, access: kind)
    }
    fillMicro(line, address, kind, space: space, slot: slot, entry.index, entry.entry)
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
      guard entry == shadow.entry(slot) else { return false }
      guard format.kind(of: entry, level: level) == .table else { return true }
      table = format.tableAddress(of: entry, level: level)
    }
    return true
  }

  /// Whether the TLB entry `cached` still matches the leaf `current` memory holds
  /// for `address` (at index `member`, the member of a run that `address` falls in).
  @inline(__always)
  func hitMatchesMemory(
    _ cached: TLBEntry, _ address: UInt64, member: Int, current: UInt64
  ) -> Bool {
    // The member the walk read, or another whose raw entry is what the run's
    // spacing predicts: equal, so unchanged. Anything else is decoded and compared.
    let predicted =
      cached.entry &+ UInt64(bitPattern: Int64(member &- cached.index)) &* cached.memberDelta
    if current == predicted { return true }
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
