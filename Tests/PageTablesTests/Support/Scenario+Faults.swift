import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// Where the fault-injection scenarios place their ranges in a format's window.
struct FaultLayout {
  /// The smallest leaf size above the granule (a block), or the span of a leaf
  /// table for formats without blocks.
  let block: UInt64
  /// The span of the table that holds `block`-sized entries.
  let span: UInt64
  /// A `span`-aligned virtual address with two spans of window after it.
  let base: UInt64

  init?(_ geometry: Geometry) {
    let layout = Layout(geometry)
    let levels = geometry.levels
    guard let blockLevel = levels.lastIndex(where: { $0.leafSize > layout.granule }) else {
      return nil
    }
    // The block level is the deepest level above the pages; if it takes no leaves,
    // its entries still need one leaf table each.
    block = levels[blockLevel].leafSize
    span = levels[blockLevel].coverage
    guard span != 0, layout.fitsOutput(span * 2), let base = layout.virtualAddress(aligned: span),
      base &+ span &* 2 &- 1 <= layout.window.last, base &+ span &* 2 > base
    else { return nil }
    self.base = base
  }
}

extension Scenario {
  /// A large map that needs many tables (pages, blocks, across a table boundary),
  /// with the N-th table allocation failing for every N until it succeeds: each
  /// failure reports `outOfTableMemory`, leaves every translation as it was and
  /// keeps no table it allocated (not even an empty one linked); after cleanup no
  /// table is left allocated. The same map meeting a mapping at its last page
  /// fails before it links a table.
  func tableFaultsInLargeMap<Format: PageTableFormat>(
    _ format: Format, _ protection: Protection
  ) throws {
    guard let place = FaultLayout(format.geometry) else { return }
    let g = format.geometry.granule
    let memory = FaultInjectingTableMemory(
      try ImageTableMemory(base: 0x4000_0000, byteCount: 32 << 20))
    let table = try PageTable(
      format: format, memory: memory, options: PageTableOptions(trapOnLeakedMappings: true))
    // Something mapped before, which must survive every failure.
    try table.map(virtualAddress: place.base, physicalAddress: 0, size: g, protection: protection)
    let start = place.base + place.span - place.block - 3 * g
    let size = 2 * place.block + 8 * g
    let pa = start - place.base
    let last = start + size - g
    try table.map(virtualAddress: last, physicalAddress: 0, size: g, protection: protection)
    let tablesWithLast = memory.liveTables
    #expect(throws: PageTableError.alreadyMapped(virtualAddress: last)) {
      try table.map(virtualAddress: start, physicalAddress: pa, size: size, protection: protection)
    }
    #expect(memory.liveTables == tablesWithLast, "a map that met a mapping kept tables")
    #expect(table.translate(start) == nil)
    try unmapAndFlush(table, last, g)
    let before = table.dump()
    let tablesBefore = memory.liveTables
    var failures = 0
    for n in 1...64 {
      memory.injectFaults(.failing(allocation: n))
      do {
        try table.map(
          virtualAddress: start, physicalAddress: pa, size: size, protection: protection)
        #expect(memory.faultInjectionCounts.injectedFaults == 0, "allocation \(n) failed silently")
        break
      } catch {
        failures += 1
        #expect(error == .outOfTableMemory, "allocation \(n)")
        #expect(
          table.dump() == before, "allocation \(n) failed: the table must translate as before")
        #expect(table.translate(start) == nil)
        #expect(table.translate(place.base)?.physicalAddress == 0)
        #expect(
          memory.liveTables == tablesBefore,
          "allocation \(n) failed: the tables the map allocated must all be freed")
      }
    }
    memory.injectFaults(.never)
    #expect(failures >= 2, "a map across a table boundary needs at least two tables")
    #expect(memory.liveTables > tablesBefore)
    #expect(table.translate(start)?.physicalAddress == pa)
    #expect(table.translate(start + size - 1)?.physicalAddress == pa + size - 1)
    try unmapAndFlush(table, place.base, place.span * 2)
    #expect(table.dump().isEmpty)
    #expect(memory.liveTables == table.rootCount, "after cleanup only the roots are left")
  }

  /// Unmapping one page from the middle of the largest block (which splits it, level
  /// by level, down to pages) with the N-th table allocation failing for every N:
  /// each failure reports `outOfTableMemory` and translates as before, including
  /// the mapped page before the block when the range starts there.
  func tableFaultsInSplitUnmap<Format: PageTableFormat>(
    _ format: Format, _ protection: Protection
  ) throws {
    let layout = Layout(format.geometry)
    let g = layout.granule
    guard
      let block = layout.leafSizes.first(where: { $0 > g && layout.fitsOutput($0 * 4) }),
      let va = layout.virtualAddress(aligned: block * 2),
      va &+ block &* 2 &- 1 <= layout.window.last
    else { return }
    let memory = FaultInjectingTableMemory(
      try ImageTableMemory(base: 0x4000_0000, byteCount: 32 << 20))
    let table = try PageTable(
      format: format, memory: memory, options: PageTableOptions(trapOnLeakedMappings: true))
    let blockVA = va + block
    let pa = block * 2
    try table.map(virtualAddress: blockVA, physicalAddress: pa, size: block, protection: protection)
    try table.map(virtualAddress: blockVA - g, physicalAddress: g, size: g, protection: protection)
    let hole = blockVA + block / 2 + g
    let leafSize = try #require(table.translate(blockVA)).pageSize
    #expect(leafSize == block)
    let before = table.dump()
    let tablesBefore = memory.liveTables
    var failures = 0
    for n in 1...64 {
      memory.injectFaults(.failing(allocation: n))
      var gather = TLBGather(invalidator: RecordingTLB())
      do {
        #expect(try table.unmap(virtualAddress: hole, size: g, gather: &gather) == g)
        table.flush(&gather)
        break
      } catch {
        table.flush(&gather)
        failures += 1
        #expect(error == .outOfTableMemory, "allocation \(n)")
        #expect(
          table.dump() == before, "allocation \(n) failed: the table must translate as before")
        #expect(memory.liveTables == tablesBefore, "allocation \(n) failed: no table kept")
      }
    }
    memory.injectFaults(.never)
    // A failed attempt keeps nothing, so every table of the split (and any the
    // engine reserves besides) can fail in turn.
    let levelsBelow = format.geometry.levels.filter { $0.leafSize < leafSize }.count
    #expect(failures >= levelsBelow, "a split down to pages needs one table per level below")
    #expect(table.translate(hole) == nil)
    #expect(table.translate(hole - 1)?.physicalAddress == pa + block / 2 + g - 1)
    #expect(table.translate(hole + g)?.physicalAddress == pa + block / 2 + 2 * g)

    // A range that starts before a block and ends inside it. Map a fresh block.
    try unmapAndFlush(table, blockVA, block)
    try table.map(virtualAddress: blockVA, physicalAddress: pa, size: block, protection: protection)
    let spanning = table.dump()
    memory.injectFaults(.failing(fromAllocation: 1))
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(throws: PageTableError.outOfTableMemory) {
      try table.unmap(virtualAddress: blockVA - g, size: 2 * g, gather: &gather)
    }
    table.flush(&gather)
    memory.injectFaults(.never)
    #expect(table.dump() == spanning, "an unmap whose split fails changes nothing")
    try unmapAndFlush(table, va, block * 2)
    #expect(table.dump().isEmpty)
    #expect(memory.liveTables == table.rootCount, "after cleanup only the roots are left")
  }
}
