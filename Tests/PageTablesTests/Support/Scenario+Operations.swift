import PageTables
import PhysicalPageTables
import Testing

/// The scenarios of protect, scatter-gather maps, split(at:) and dirty state
/// across splits, for every format and configuration.
extension Scenario {
  /// Whether `found` is `expected`, up to the accessed flag the hardware (or an
  /// earlier mapping) may have set where `expected` leaves it clear: protect and
  /// splits keep the accessed and dirty state a leaf has recorded.
  static func sameRights(_ found: Protection?, _ expected: Protection) -> Bool {
    guard var found else { return false }
    if !expected.accessed { found.accessed = false }
    return found == expected
  }

  /// The largest block size (above the granule) whose leaf fits the output size, and
  /// a virtual address aligned to it.
  static func largestBlock(_ layout: Layout) -> (size: UInt64, va: UInt64)? {
    for size in layout.leafSizes where size > layout.granule && layout.fitsOutput(size) {
      if let va = layout.virtualAddress(aligned: size) { return (size, va) }
    }
    return nil
  }

  func protectInPlace<Format: PageTableFormat>(_ format: Format, _ allProtections: [Protection])
    throws
  {
    // Protections that set the accessed flag at map time: protect keeps the flag
    // once set, so one that leaves it clear would not read back as given.
    let protections = allProtections.filter { $0.accessed }
    let layout = Layout(format.geometry)
    let g = layout.granule
    let size = Self.largestBlock(layout)?.size ?? g * 16
    guard protections.count > 1, let va = layout.virtualAddress(aligned: size) else { return }
    let table = try makeTable(format)
    let pa = size
    try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: protections[0])
    let page = va + size / 2
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(
      try table.protect(
        virtualAddress: page, size: g, protection: protections[1], gather: &gather) == g)
    table.flush(&gather)
    #expect(gather.invalidator.covers(page), "the changed page is invalidated")
    let changed = try #require(table.translate(page))
    #expect(changed.protection == protections[1])
    #expect(changed.physicalAddress == pa + size / 2)
    for address in [va, page - g, page + g, va + size - g] {
      let kept = try #require(table.translate(address))
      #expect(kept.protection == protections[0], "0x\(String(address, radix: 16)) kept its rights")
      #expect(kept.physicalAddress == pa + (address - va))
    }
    // Protecting the whole range again makes it one run of one protection.
    try table.protect(virtualAddress: va, size: size, protection: protections[0], gather: &gather)
    table.flush(&gather)
    #expect(
      table.dump() == [
        MappingRun(virtualAddress: va, physicalAddress: pa, size: size, protection: protections[0])
      ])
    #expect(try unmapAndFlush(table, va, size) == size)
    #expect(table.memory.liveTables == table.rootCount)
  }

  func scatterGatherAndSplit<Format: PageTableFormat>(
    _ format: Format, _ protection: Protection
  ) throws {
    let layout = Layout(format.geometry)
    let g = layout.granule
    // The smallest block: the third piece, one page off, is mapped with pages.
    let smallest = layout.leafSizes.reversed().first { $0 > g && layout.fitsOutput($0 * 4) }
    let block = smallest ?? g * 16
    guard let va = layout.virtualAddress(aligned: block), layout.fitsOutput(block * 4) else {
      return
    }
    let table = try makeTable(format)
    // A block-sized piece at a block-aligned address, a page, then a block-sized
    // piece one page off its alignment.
    let pieces = [
      PhysicalSegment(physicalAddress: block, size: block),
      PhysicalSegment(physicalAddress: 3 * block + g, size: g),
      PhysicalSegment(physicalAddress: 2 * block, size: block),
    ]
    #expect(
      try table.map(virtualAddress: va, segments: pieces, protection: protection) == 2 * block + g)
    #expect(table.translate(va)?.pageSize == smallest ?? g)
    #expect(table.translate(va + block)?.physicalAddress == 3 * block + g)
    #expect(table.translate(va + block + g)?.physicalAddress == 2 * block)
    #expect(table.translate(va + 2 * block + g - 1)?.physicalAddress == 3 * block - 1)
    #expect(table.translate(va + 2 * block + g) == nil)
    // Split the first piece in its middle: translations stay.
    var gather = TLBGather(invalidator: RecordingTLB())
    let cut = va + block / 2 + g
    try table.split(at: cut, gather: &gather)
    table.flush(&gather)
    for address in [va, cut - g, cut, va + block - 1] {
      #expect(table.translate(address)?.physicalAddress == block + (address - va))
    }
    #expect(try unmapAndFlush(table, cut, va + 2 * block + g - cut) == va + 2 * block + g - cut)
    #expect(try unmapAndFlush(table, va, cut - va) == cut - va)
    #expect(table.dump().isEmpty)
    #expect(table.memory.liveTables == table.rootCount)
  }

  func dirtyStateSurvivesSplits<Format: PageTableFormat>(
    _ format: Format, _ protections: [Protection]
  ) throws {
    let layout = Layout(format.geometry)
    let g = layout.granule
    guard format.tracksDirtyState, let (size, va) = Self.largestBlock(layout),
      let writable = protections.first(where: { $0.write })
    else { return }
    let table = try makeTable(format)
    try table.map(virtualAddress: va, physicalAddress: size, size: size, protection: writable)
    #expect(try HardwareSimulation.dirtyRanges(table, va, size).isEmpty)
    // The hardware writes the block; then unmap splits it.
    try #require(HardwareSimulation.write(table, va + size / 4))
    try unmapAndFlush(table, va + size / 2, g)
    var reported = try HardwareSimulation.dirtyRanges(table, va, size)
    #expect(
      reported.reduce(0) { $0 + ($1.upperBound - $1.lowerBound + 1) } == size - g,
      "every remaining leaf of the written block is dirty")
    #expect(try HardwareSimulation.dirtyRanges(table, va, size).isEmpty, "and now cleaned")
    // Written again, split by split(at:) and by protect: still dirty.
    try #require(HardwareSimulation.write(table, va))
    var gather = TLBGather(invalidator: RecordingTLB())
    try table.split(at: va + g, gather: &gather)
    try table.protect(virtualAddress: va, size: g, protection: writable, gather: &gather)
    table.flush(&gather)
    reported = try HardwareSimulation.dirtyRanges(table, va, g)
    #expect(reported == [va...(va + g - 1)], "the written page is still dirty")
    try unmapAndFlush(table, va, size)
    #expect(table.memory.liveTables == table.rootCount)
  }

  func faultInjection<Format: PageTableFormat>(_ format: Format, _ protections: [Protection])
    throws
  {
    let layout = Layout(format.geometry)
    let g = layout.granule
    let smallest = layout.leafSizes.reversed().first { $0 > g && layout.fitsOutput($0 * 4) }
    let block = smallest ?? g * 16
    guard let va = layout.virtualAddress(aligned: block), layout.fitsOutput(block * 4),
      protections.count > 1
    else { return }
    let pieces = [
      PhysicalSegment(physicalAddress: block, size: block),
      PhysicalSegment(physicalAddress: 3 * block + g, size: g),
      PhysicalSegment(physicalAddress: 2 * block, size: block),
    ]
    let total = 2 * block + g
    func fresh() throws -> PageTable<Format, FaultInjectingTableMemory<ImageTableMemory>> {
      try PageTable(
        format: format,
        memory: FaultInjectingTableMemory(
          try ImageTableMemory(base: 0x4000_0000, byteCount: 32 << 20)),
        options: PageTableOptions(trapOnLeakedMappings: true))
    }
    /// Runs `operation` with allocation n failing, for n = 1, 2, … until it
    /// succeeds; after each failure the table must dump as before.
    func everyFailure(
      _ what: String, mapsFirst: Bool,
      _ operation: (PageTable<Format, FaultInjectingTableMemory<ImageTableMemory>>)
        throws(PageTableError) -> Void
    ) throws {
      for n in 1...64 {
        let table = try fresh()
        if mapsFirst {
          try table.map(virtualAddress: va, segments: pieces, protection: protections[0])
        }
        let before = table.dump()
        let tablesBefore = table.memory.liveTables
        table.memory.injectFaults(.failing(allocation: n))
        do {
          try operation(table)
          table.memory.injectFaults(.never)
          try unmapAndFlush(table, va, total)
          #expect(table.memory.liveTables == table.rootCount, "\(what): tables left")
          return
        } catch {
          #expect(
            error as? PageTableError == .outOfTableMemory,
            "\(what), allocation \(n) failed: \(error)")
          #expect(table.dump() == before, "\(what), allocation \(n) failed: something changed")
          #expect(
            table.memory.liveTables == tablesBefore,
            "\(what), allocation \(n) failed: a table it allocated was kept")
        }
        table.memory.injectFaults(.never)
        try unmapAndFlush(table, va, total)
        #expect(
          table.memory.liveTables == table.rootCount, "\(what), allocation \(n): a table leaked")
      }
      Issue.record("\(what) never succeeded")
    }
    try everyFailure("scatter-gather map", mapsFirst: false) { table throws(PageTableError) in
      try table.map(virtualAddress: va, segments: pieces, protection: protections[0])
    }
    try everyFailure("protect", mapsFirst: true) { table throws(PageTableError) in
      var gather = TLBGather(invalidator: RecordingTLB())
      try table.protect(
        virtualAddress: va + block / 2, size: g, protection: protections[1], gather: &gather)
      table.flush(&gather)
    }
    try everyFailure("unmap inside a block", mapsFirst: true) { table throws(PageTableError) in
      var gather = TLBGather(invalidator: RecordingTLB())
      try table.unmap(virtualAddress: va + g, size: block, gather: &gather)
      table.flush(&gather)
    }
  }
}
