import PageTables
import PhysicalPageTables
import Testing

/// Scatter-gather maps, splits, and every failure path of the engine's operations:
/// each either completes or changes nothing, and no gather can crash or leak.
@Suite struct EngineOperationsTests {
  let g: UInt64 = 4096
  let twoMiB: UInt64 = 2 << 20

  func failingTable(runLength: Int = 1, rule: LiveEntryRule = .replaceThenInvalidate)
    throws -> PageTable<ToyFormat, FaultInjectingTableMemory<ImageTableMemory>>
  {
    try PageTable(
      format: ToyFormat(runLength: runLength, liveEntryRule: rule),
      memory: FaultInjectingTableMemory(
        try ImageTableMemory(base: 0x4000_0000, byteCount: 8 << 20)),
      options: PageTableOptions(trapOnLeakedMappings: true))
  }

  func unmapAll<Memory: TableMemory>(_ table: PageTable<ToyFormat, Memory>) throws {
    var gather = TLBGather(invalidator: RecordingTLB())
    try table.unmap(virtualAddress: 0, size: 1 << 39, gather: &gather)
    table.flush(&gather)
  }

  // MARK: Scatter-gather

  @Test func scatterGatherMapGivesEachPieceTheLargestLeafItsAlignmentAllows() throws {
    let table = try makeTable(ToyFormat(runLength: 1))
    let va: UInt64 = 1 << 30
    let pieces = [
      PhysicalSegment(physicalAddress: 0x8020_0000, size: twoMiB),  // aligned: one block
      PhysicalSegment(physicalAddress: 0x9000_3000, size: g),  // one page
      PhysicalSegment(physicalAddress: 0xA000_0000, size: twoMiB),  // VA off by a page: pages
    ]
    #expect(
      try table.map(virtualAddress: va, segments: pieces, protection: .readWrite)
        == 2 * twoMiB + g)
    #expect(table.translate(va)?.pageSize == twoMiB)
    #expect(table.translate(va + 0x1234)?.physicalAddress == 0x8020_1234)
    #expect(table.translate(va + twoMiB)?.physicalAddress == 0x9000_3000)
    let third = try #require(table.translate(va + twoMiB + g + 0x10))
    #expect(third.physicalAddress == 0xA000_0010 && third.pageSize == g)
    #expect(table.translate(va + 2 * twoMiB + g - 1)?.physicalAddress == 0xA01F_FFFF)
    #expect(table.translate(va + 2 * twoMiB + g) == nil)
    try unmapAll(table)
    #expect(table.memory.liveTables == 1)
  }

  @Test func scatterGatherMapRefusesBadPiecesBeforeAnythingChanges() throws {
    let table = try makeTable(ToyFormat())
    let good = PhysicalSegment(physicalAddress: 0x10_0000, size: g)
    #expect(throws: PageTableError.zeroSize) {
      try table.map(virtualAddress: 0, segments: [PhysicalSegment](), protection: .readWrite)
    }
    #expect(throws: PageTableError.zeroSize) {
      try table.map(
        virtualAddress: 0, segments: [good, PhysicalSegment(physicalAddress: 0, size: 0)],
        protection: .readWrite)
    }
    #expect(throws: PageTableError.misalignedPhysicalAddress(0x10)) {
      try table.map(
        virtualAddress: 0, segments: [good, PhysicalSegment(physicalAddress: 0x10, size: g)],
        protection: .readWrite)
    }
    #expect(throws: PageTableError.misalignedSize(0x10)) {
      try table.map(
        virtualAddress: 0, segments: [good, PhysicalSegment(physicalAddress: 0, size: 0x10)],
        protection: .readWrite)
    }
    #expect(throws: PageTableError.physicalAddressOutOfRange(1 << 48)) {
      try table.map(
        virtualAddress: 0, segments: [good, PhysicalSegment(physicalAddress: 1 << 48, size: g)],
        protection: .readWrite)
    }
    #expect(throws: PageTableError.virtualAddressOutOfRange((1 << 39) - g)) {
      try table.map(virtualAddress: (1 << 39) - g, segments: [good, good], protection: .readWrite)
    }
    #expect(throws: PageTableError.unsupportedProtection(Protection(global: true))) {
      try table.map(virtualAddress: 0, segments: [good], protection: Protection(global: true))
    }
    #expect(table.dump().isEmpty)
    #expect(table.memory.liveTables == 1)
  }

  @Test func scatterGatherMapMeetingAMappingRemovesEveryPieceItWrote() throws {
    let table = try makeTable(ToyFormat())
    let va: UInt64 = 1 << 30
    try table.map(
      virtualAddress: va + twoMiB + 5 * g, physicalAddress: 0, size: g, protection: .readOnly)
    let before = table.dump()
    #expect(throws: PageTableError.alreadyMapped(virtualAddress: va + twoMiB + 5 * g)) {
      try table.map(
        virtualAddress: va,
        segments: [
          PhysicalSegment(physicalAddress: 0x8000_0000, size: twoMiB),
          PhysicalSegment(physicalAddress: 0x9000_0000, size: 16 * g),
        ], protection: .readWrite)
    }
    #expect(table.dump() == before)
    try unmapAll(table)
  }

  @Test func scatterGatherMapFailingAtEveryAllocationChangesNothing() throws {
    let pieces = [
      PhysicalSegment(physicalAddress: 0x8000_0000, size: twoMiB),
      PhysicalSegment(physicalAddress: 0x9000_3000, size: 3 * g),
      PhysicalSegment(physicalAddress: 0xA000_0000, size: 1 << 30),
      PhysicalSegment(physicalAddress: 0xB000_1000, size: twoMiB),
    ]
    var failures = 0
    for n in 1...64 {
      let table = try failingTable()
      table.memory.injectFaults(.failing(allocation: n))
      do {
        try table.map(virtualAddress: 1 << 30, segments: pieces, protection: .readWrite)
        #expect(
          table.memory.faultInjectionCounts.injectedFaults == 0,
          "succeeded although allocation \(n) failed")
        try unmapAll(table)
        #expect(table.memory.liveTables == 1)
        break
      } catch {
        #expect(error as? PageTableError == .outOfTableMemory)
        #expect(table.dump().isEmpty, "allocation \(n) failed: nothing may stay mapped")
        failures += 1
      }
      try unmapAll(table)
      #expect(table.memory.liveTables == 1, "allocation \(n) failed: no table may leak")
    }
    #expect(failures >= 3, "the map needs several tables, each failure was tried")
  }

  // MARK: split(at:)

  @Test func splitMakesABoundarySoUnmappingEitherSideAllocatesNothing() throws {
    let table = try failingTable()
    let va: UInt64 = 1 << 30
    try table.map(
      virtualAddress: va, physicalAddress: 2 << 30, size: 1 << 30, protection: .readWrite)
    let cut = va + 3 * twoMiB + 5 * g
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(try table.split(at: cut, gather: &gather))
    #expect(try !table.split(at: cut, gather: &gather), "already a boundary")
    table.flush(&gather)
    #expect(table.memory.liveTables == 3, "a table of 2 MiB blocks and one of pages")
    for address in [va, cut - g, cut, cut + 0x123, va + (1 << 30) - 1] {
      #expect(table.translate(address)?.physicalAddress == address - va + (2 << 30))
    }
    #expect(table.translate(cut)?.pageSize == g)
    #expect(table.translate(va)?.pageSize == twoMiB)
    #expect(table.translate(cut)?.protection == .readWrite)
    #expect(gather.invalidator.covers(va) && gather.invalidator.covers(cut))
    // No memory at all now: both sides still unmap.
    table.memory.injectFaults(.failing(fromAllocation: 1))
    #expect(try unmapAndFlush(table, cut, va + (1 << 30) - cut) == va + (1 << 30) - cut)
    #expect(try unmapAndFlush(table, va, cut - va) == cut - va)
    #expect(table.dump().isEmpty)
    #expect(table.memory.liveTables == 1)
  }

  @Test func splitBreaksTheContiguousRunAtTheBoundary() throws {
    let table = try makeTable(ToyFormat())
    try table.map(
      virtualAddress: 0x40_0000, physicalAddress: 0, size: 8 * g, protection: .readWrite)
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(try table.split(at: 0x40_0000 + 2 * g, gather: &gather))
    table.flush(&gather)
    for k: UInt64 in 0..<4 { #expect(table.translate(0x40_0000 + k * g)!.entry & 16 == 0) }
    for k: UInt64 in 4..<8 { #expect(table.translate(0x40_0000 + k * g)!.entry & 16 != 0) }
    #expect(try !table.split(at: 0x40_0000 + 4 * g, gather: &gather), "a run edge is a boundary")
    try unmapAll(table)
  }

  @Test func splitRefusesBadAddressesAndFailsWithNothingChanged() throws {
    let table = try failingTable()
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(throws: PageTableError.misalignedVirtualAddress(0x10)) {
      try table.split(at: 0x10, gather: &gather)
    }
    #expect(throws: PageTableError.virtualAddressOutOfRange(1 << 39)) {
      try table.split(at: 1 << 39, gather: &gather)
    }
    try table.map(
      virtualAddress: 1 << 30, physicalAddress: 0, size: 1 << 30, protection: .readWrite)
    for n in [1, 2] {
      table.memory.injectFaults(.failing(allocation: n))
      #expect(throws: PageTableError.outOfTableMemory) {
        try table.split(at: (1 << 30) + g, gather: &gather)
      }
      #expect(table.translate(1 << 30)?.pageSize == 1 << 30, "the block is still whole")
      #expect(table.memory.liveTables == 1, "reserved tables were given back")
      let empty = gather.isEmpty
      #expect(empty)
    }
    table.memory.injectFaults(.never)
    #expect(try table.split(at: (1 << 30) + g, gather: &gather))
    table.flush(&gather)
    try unmapAll(table)
  }

  @Test func splittingADirtyBlockKeepsEveryLeafDirty() throws {
    let table = try makeTable(ToyFormat(runLength: 1))
    let va: UInt64 = 0x20_0000
    try table.map(virtualAddress: va, physicalAddress: 0, size: twoMiB, protection: .readWrite)
    #expect(HardwareSimulation.setLeafBits(table, va, 32))
    try unmapAndFlush(table, va + 7 * g, g)
    let dirty = try HardwareSimulation.dirtyRanges(table, va, twoMiB)
    #expect(dirty.count == 511, "every remaining page of the written block is dirty")
    #expect(try HardwareSimulation.dirtyRanges(table, va, twoMiB).isEmpty)
    try unmapAll(table)
  }

  // MARK: Unmap failure paths

  @Test func unmapThatCannotGetItsSplitTablesChangesNothing() throws {
    let table = try failingTable()
    let va: UInt64 = 1 << 30
    try table.map(virtualAddress: va, physicalAddress: 0, size: 4 * twoMiB, protection: .readWrite)
    let before = table.dump()
    // Both edges cut a block: two tables are needed.
    for n in [1, 2] {
      table.memory.injectFaults(.failing(allocation: n))
      var gather = TLBGather(invalidator: RecordingTLB())
      #expect(throws: PageTableError.outOfTableMemory) {
        try table.unmap(virtualAddress: va + g, size: 2 * twoMiB, gather: &gather)
      }
      let empty = gather.isEmpty
      #expect(empty, "nothing to invalidate: nothing changed")
      #expect(table.dump() == before)
      #expect(table.memory.liveTables == 2, "reserved tables were given back")
    }
    table.memory.injectFaults(.never)
    #expect(try unmapAndFlush(table, va + g, 2 * twoMiB) == 2 * twoMiB)
    #expect(table.translate(va)?.physicalAddress == 0)
    #expect(table.translate(va + g) == nil)
    #expect(table.translate(va + 2 * twoMiB + g)?.physicalAddress == 2 * twoMiB + g)
    try unmapAll(table)
    #expect(table.memory.liveTables == 1)
  }

  /// The caller's natural code: a gather, several unmaps, the error propagates.
  func unmapTwice(
    _ table: PageTable<ToyFormat, FaultInjectingTableMemory<ImageTableMemory>>,
    record: SharedTLB.Record
  ) throws(PageTableError) {
    var gather = TLBGather(invalidator: SharedTLB(record))
    try table.unmap(virtualAddress: 0x4000_0000, size: g, gather: &gather)
    try table.unmap(virtualAddress: 0x8000_0000 + g, size: g, gather: &gather)
    table.flush(&gather)
  }

  @Test func anErrorPropagatingPastAGatherFlushesItInsteadOfCrashing() throws {
    let table = try failingTable()
    try table.map(virtualAddress: 0x4000_0000, physicalAddress: 0, size: g, protection: .readWrite)
    try table.map(
      virtualAddress: 0x8000_0000, physicalAddress: 0, size: twoMiB, protection: .readWrite)
    table.memory.injectFaults(.failing(fromAllocation: 1))
    let record = SharedTLB.Record()
    #expect(throws: PageTableError.outOfTableMemory) { try unmapTwice(table, record: record) }
    #expect(table.translate(0x4000_0000) == nil, "the first unmap happened")
    #expect(table.translate(0x8000_0000 + g) != nil, "the second changed nothing")
    #expect(record.ranges.contains { $0.start <= 0x4000_0000 && $0.start + $0.size > 0x4000_0000 })
    #expect(table.memory.liveTables == 2, "the emptied tables were freed when the gather went")
    try unmapAll(table)
  }

  @Test func droppingAGatherInvalidatesAndFreesItsTables() throws {
    let table = try makeTable(ToyFormat())
    try table.map(virtualAddress: 0x1234_5000, physicalAddress: 0, size: g, protection: .readWrite)
    let record = SharedTLB.Record()
    do {
      var gather = TLBGather(invalidator: SharedTLB(record))
      try table.unmap(virtualAddress: 0x1234_5000, size: g, gather: &gather)
      #expect(table.memory.liveTables == 3)
    }
    #expect(record.ranges.count == 1 && record.ranges[0].leafOnly == false)
    #expect(table.memory.liveTables == 1)
  }

  @Test func aGatherFlushedThroughTheWrongTableFreesTablesWhereTheyCameFrom() throws {
    let a = try makeTable(ToyFormat())
    let b = try makeTable(ToyFormat())
    try b.map(virtualAddress: 0x1234_5000, physicalAddress: 0, size: g, protection: .readWrite)
    try a.map(virtualAddress: 0x1234_5000, physicalAddress: 0, size: g, protection: .readWrite)
    var gather = TLBGather(invalidator: RecordingTLB())
    try b.unmap(virtualAddress: 0x1234_5000, size: g, gather: &gather)
    a.flush(&gather)
    let empty = gather.isEmpty
    #expect(empty)
    #expect(b.memory.liveTables == 1, "B's tables went back to B's memory")
    #expect(a.memory.liveTables == 3, "A's tables are untouched")
    #expect(a.translate(0x1234_5000) != nil)
    // One gather used with both tables: each table's tables go home.
    try b.map(virtualAddress: 0x1234_5000, physicalAddress: 0, size: g, protection: .readWrite)
    try b.unmap(virtualAddress: 0x1234_5000, size: g, gather: &gather)
    try a.unmap(virtualAddress: 0x1234_5000, size: g, gather: &gather)
    b.flush(&gather)
    #expect(a.memory.liveTables == 1 && b.memory.liveTables == 1)
  }

  // MARK: Live entries

  @Test(arguments: [false, true])
  func splittingALiveBlockFollowsBreakBeforeMake(hasBBMLevel2: Bool) throws {
    let table = try PageTable(
      format: ToyFormat(runLength: 1, liveEntryRule: .breakBeforeMake),
      memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20),
      options: PageTableOptions(trapOnLeakedMappings: true, hasBBMLevel2: hasBBMLevel2))
    let va: UInt64 = 0x20_0000
    try table.map(virtualAddress: va, physicalAddress: 0, size: twoMiB, protection: .readWrite)
    let record = SharedTLB.Record()
    var seenDuringInvalidation: [Translation?] = []
    record.onInvalidate = { start, _ in seenDuringInvalidation.append(table.translate(start)) }
    var gather = TLBGather(invalidator: SharedTLB(record))
    try table.split(at: va + g, gather: &gather)
    table.flush(&gather)
    #expect(seenDuringInvalidation.count == 1)
    if hasBBMLevel2 {
      #expect(seenDuringInvalidation.first??.pageSize == g, "replaced, then invalidated")
    } else {
      #expect(seenDuringInvalidation.first! == nil, "invalid while the TLB is invalidated")
    }
    #expect(table.translate(va + g)?.physicalAddress == g)
    try unmapAll(table)
  }

  // MARK: protect

  @Test func protectSplitsTheBlockItCutsAndChangesOnlyTheRange() throws {
    let table = try failingTable()
    let va: UInt64 = 1 << 30
    try table.map(virtualAddress: va, physicalAddress: 0, size: 1 << 30, protection: .readWrite)
    let page = va + 5 * twoMiB + 3 * g
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(
      try table.protect(virtualAddress: page, size: 2 * g, protection: .readOnly, gather: &gather)
        == 2 * g)
    table.flush(&gather)
    #expect(table.translate(page)?.protection == .readOnly)
    #expect(table.translate(page + g)?.protection == .readOnly)
    #expect(table.translate(page - g)?.protection == .readWrite)
    #expect(table.translate(page + 2 * g)?.protection == .readWrite)
    #expect(table.translate(page)?.physicalAddress == page - va)
    #expect(table.translate(va)?.pageSize == twoMiB, "only the blocks the range cuts are split")
    #expect(gather.invalidator.covers(page) && gather.invalidator.covers(page + g))
    // Holes are skipped; the bytes returned are the mapped ones.
    try unmapAndFlush(table, page + g, g)
    #expect(
      try table.protect(virtualAddress: page, size: 2 * g, protection: .readWrite, gather: &gather)
        == g)
    table.flush(&gather)
    try unmapAll(table)
    #expect(table.memory.liveTables == 1)
  }

  @Test func protectThatCannotSplitOrEncodeChangesNothing() throws {
    let table = try failingTable()
    let va: UInt64 = 1 << 30
    try table.map(virtualAddress: va, physicalAddress: 0, size: 4 * twoMiB, protection: .readWrite)
    let before = table.dump()
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(throws: PageTableError.unsupportedProtection(Protection(global: true))) {
      try table.protect(
        virtualAddress: va, size: twoMiB, protection: Protection(global: true), gather: &gather)
    }
    for n in [1, 2] {
      table.memory.injectFaults(.failing(allocation: n))
      #expect(throws: PageTableError.outOfTableMemory) {
        try table.protect(
          virtualAddress: va + g, size: 2 * twoMiB, protection: .readOnly, gather: &gather)
      }
      #expect(table.dump() == before, "allocation \(n) failed: nothing changed")
      #expect(table.memory.liveTables == 2)
    }
    let empty = gather.isEmpty
    #expect(empty)
    try unmapAll(table)
  }

  @Test func protectKeepsDirtyStateAndContiguousRuns() throws {
    let table = try makeTable(ToyFormat())
    let va: UInt64 = 0x40_0000
    try table.map(
      virtualAddress: va, physicalAddress: 0x80_0000, size: 8 * g, protection: .readWrite)
    #expect(HardwareSimulation.setLeafBits(table, va + g, 32))
    var gather = TLBGather(invalidator: RecordingTLB())
    try table.protect(
      virtualAddress: va, size: 8 * g, protection: Protection(write: true, execute: true),
      gather: &gather)
    table.flush(&gather)
    for k: UInt64 in 0..<8 {
      let t = try #require(table.translate(va + k * g))
      #expect(t.entry & 16 != 0, "page \(k) is still in its run")
      #expect(t.protection == Protection(write: true, execute: true))
    }
    #expect(table.translate(va + g)!.entry & 32 != 0, "the written page is still dirty")
    try unmapAll(table)
  }

  @Test func aMemoryTypeChangeOnALiveARM64LeafBreaksBeforeMaking() throws {
    let table = try PageTable(
      format: try ARM64Format(granule: .k4),
      memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20),
      options: PageTableOptions(trapOnLeakedMappings: true, useContiguousRuns: false))
    let va: UInt64 = 0x10_0000
    try table.map(
      virtualAddress: va, physicalAddress: 0x8000_0000, size: 2 * g, protection: .readWrite)
    let record = SharedTLB.Record()
    var during: [Translation?] = []
    record.onInvalidate = { start, _ in during.append(table.translate(start)) }
    var gather = TLBGather(invalidator: SharedTLB(record))
    // A permission change is written in place; the TLB learns it at the flush.
    try table.protect(virtualAddress: va, size: g, protection: .readOnly, gather: &gather)
    #expect(during.isEmpty)
    table.flush(&gather)
    #expect(during.count == 1 && during[0]?.protection == .readOnly)
    // A memory-type change goes through an invalid entry and an invalidation.
    during = []
    let device = Protection(write: true, memoryType: .device)
    try table.protect(virtualAddress: va + g, size: g, protection: device, gather: &gather)
    #expect(during.count == 1 && during[0] == nil, "invalid while invalidated")
    table.flush(&gather)
    #expect(table.translate(va + g)?.protection == device)
    try unmapAndFlush(table, va, 2 * g)
  }

  // MARK: Table memory the format cannot reach

  @Test func tableMemoryAboveTheOutputSizeIsRefusedAtCreation() throws {
    let format = try X86_64Format(levels: 4, maxPhysicalAddressBits: 36)
    #expect(throws: PageTableError.tableMemoryOutOfReach(physicalAddress: 1 << 40)) {
      _ = try PageTable(format: format, memory: ImageTableMemory(base: 1 << 40, byteCount: 1 << 16))
    }
    let arm = try ARM64Format(granule: .k4, inputBits: 32, outputBits: 32)
    #expect(throws: PageTableError.self) {
      _ = try PageTable(
        format: arm, memory: ImageTableMemory(base: 0xFFFF_0000, byteCount: 1 << 17))
    }
  }

  @Test func aTableTheFormatCannotReachIsRefusedWhenItWouldBeLinked() throws {
    // Memory that does not declare its range: the root fits under 4 GiB, the next
    // table would be at 4 GiB, out of a 32-bit output size.
    let format = try ARM64Format(granule: .k4, inputBits: 32, outputBits: 32)
    let memory = FaultInjectingTableMemory(
      try ImageTableMemory(base: 0xFFFF_F000, byteCount: 1 << 16))
    let table = try PageTable(
      format: format, memory: memory, options: PageTableOptions(trapOnLeakedMappings: true))
    #expect(throws: PageTableError.tableMemoryOutOfReach(physicalAddress: 1 << 32)) {
      try table.map(
        virtualAddress: 0x1000, physicalAddress: 0x1000, size: g, protection: .readWrite)
    }
    #expect(table.dump().isEmpty)
    #expect(memory.liveTables == 1, "the unreachable table was given back")
    // A block needs no table; splitting it would, and is refused with nothing changed.
    try table.map(virtualAddress: 0, physicalAddress: 0, size: 1 << 30, protection: .readWrite)
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(throws: PageTableError.tableMemoryOutOfReach(physicalAddress: 1 << 32)) {
      try table.unmap(virtualAddress: 0x1000, size: g, gather: &gather)
    }
    #expect(table.translate(0x1000)?.pageSize == 1 << 30)
    try table.unmap(virtualAddress: 0, size: 1 << 30, gather: &gather)
    table.flush(&gather)
  }
}
