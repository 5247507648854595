import Dispatch
import PageTables
import PageTablesTools
import Testing

/// The generic algorithms, on the engine's own ``ToyFormat``.
@Suite struct EngineTests {
  let g: UInt64 = 4096

  @Test func mapChoosesTheLargestLeafAlignmentAllows() throws {
    let table = try makeTable(ToyFormat())
    // 1 GiB + 2 MiB + 4 KiB, all aligned: one leaf of each size.
    let size: UInt64 = (1 << 30) + (2 << 20) + 4096
    try table.map(
      virtualAddress: 1 << 30, physicalAddress: 1 << 30, size: size, protection: .readWrite)
    #expect(table.translate(1 << 30)?.pageSize == 1 << 30)
    #expect(table.translate(2 << 30)?.pageSize == 2 << 20)
    #expect(table.translate((2 << 30) + (2 << 20))?.pageSize == 4096)
    #expect(
      table.dump() == [
        MappingRun(
          virtualAddress: 1 << 30, physicalAddress: 1 << 30, size: size, protection: .readWrite)
      ])
    // Misaligned physical address: only pages.
    try table.map(
      virtualAddress: 4 << 30, physicalAddress: (1 << 30) + 4096, size: 2 << 20,
      protection: .readWrite)
    #expect(table.translate(4 << 30)?.pageSize == 4096)
    try unmapAndFlush(table, 1 << 30, size)
    try unmapAndFlush(table, 4 << 30, 2 << 20)
  }

  @Test func aMapThatFillsAWholeTableWritesEveryEntryOfAnUnzeroedTable() throws {
    let memory = try GarbageTableMemory()
    let table = try PageTable(
      format: ToyFormat(runLength: 1), memory: memory,
      options: PageTableOptions(trapOnLeakedMappings: true))
    // 2 MiB of 4 KiB pages (the physical address rules out a block): one whole leaf table.
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x40_1000, size: 2 << 20, protection: .readWrite)
    #expect(memory.overwriteAllocations == 1, "the leaf table was allocated for overwrite")
    for k: UInt64 in 0..<512 {
      #expect(table.translate(0x20_0000 + k * g)?.physicalAddress == 0x40_1000 + k * g)
    }
    #expect(
      table.dump() == [
        MappingRun(
          virtualAddress: 0x20_0000, physicalAddress: 0x40_1000, size: 2 << 20,
          protection: .readWrite)
      ])
    // A range that covers only part of a table still gets a zeroed one.
    try table.map(virtualAddress: 0x60_0000, physicalAddress: 0, size: 3 * g, protection: .readOnly)
    #expect(memory.overwriteAllocations == 1)
    #expect(table.translate(0x60_0000 + 3 * g) == nil)
    #expect(try unmapAndFlush(table, 0, 8 << 20) == (2 << 20) + 3 * g)
    #expect(memory.image.liveTables == 1)
  }

  /// Threads fill whole sibling leaf tables under one parent at once, so prefilled
  /// tables race to be published into the same table (and its live count).
  @Test func concurrentWholeTableMapsPublishIntoOneParent() throws {
    let table = try makeTable(ToyFormat(runLength: 1), imageBytes: 16 << 20)
    let failures = LeakBox()
    DispatchQueue.concurrentPerform(iterations: 4) { t in
      do {
        for round in 0..<40 {
          let va = UInt64(t * 8 + round % 8) << 21
          try table.map(
            virtualAddress: va, physicalAddress: va + g, size: 2 << 20, protection: .readWrite)
          if table.translate(va + 511 * g)?.physicalAddress != va + 512 * g {
            failures.append(
              MappingRun(virtualAddress: va, physicalAddress: 0, size: 0, protection: .readOnly))
          }
          try unmapAndFlush(table, va, 2 << 20)
        }
      } catch {
        failures.append(
          MappingRun(virtualAddress: 0, physicalAddress: 0, size: 1, protection: .readOnly))
      }
    }
    #expect(failures.runs.isEmpty)
    #expect(table.dump().isEmpty)
  }

  @Test func failedMapRollsBackWhatItWrote() throws {
    let table = try makeTable(ToyFormat(runLength: 1))
    let base: UInt64 = 0x4000_0000
    try table.map(
      virtualAddress: base + 2 * g, physicalAddress: 0x10_0000, size: g, protection: .readOnly)
    #expect(throws: PageTableError.alreadyMapped(virtualAddress: base + 2 * g)) {
      try table.map(
        virtualAddress: base, physicalAddress: 0x20_0000, size: 4 * g, protection: .readWrite)
    }
    #expect(table.translate(base) == nil, "pages before the conflict were rolled back")
    #expect(table.translate(base + g) == nil)
    #expect(table.translate(base + 3 * g) == nil)
    #expect(
      table.translate(base + 2 * g)?.physicalAddress == 0x10_0000,
      "the existing mapping is untouched")
    #expect(table.dump().count == 1)
    try unmapAndFlush(table, base, 4 * g)
  }

  @Test func runningOutOfTableMemoryRollsBack() throws {
    // Room for the root and two more tables only (64 KiB image, 4 KiB tables... and 16 KiB used).
    let table = try PageTable(
      format: ToyFormat(runLength: 1), memory: ImageTableMemory(base: 0x4000_0000, byteCount: 12288)
    )
    #expect(throws: PageTableError.outOfTableMemory) {
      // Two 2 MiB-apart pages need two leaf tables: the second allocation fails.
      try table.map(
        virtualAddress: (2 << 20) - g, physicalAddress: 0, size: 2 * g, protection: .readWrite)
    }
    #expect(table.dump().isEmpty)
  }

  @Test func emptyTablesAreFreedOnlyByTheFlush() throws {
    let table = try makeTable(ToyFormat())
    try table.map(
      virtualAddress: 0x1234_5000, physicalAddress: 0x5000, size: g, protection: .readWrite)
    #expect(table.memory.liveTables == 3)
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(try table.unmap(virtualAddress: 0x1234_5000, size: g, gather: &gather) == g)
    let freed = gather.freedTables.count
    #expect(freed == 2, "the leaf table and its parent emptied")
    #expect(table.memory.liveTables == 3, "tables wait for the flush")
    table.flush(&gather)
    let walkFlushes = gather.invalidator.ranges.filter { !$0.leafOnly }
    #expect(!walkFlushes.isEmpty, "walk caches are invalidated")
    #expect(table.memory.liveTables == 1)
  }

  @Test func gatherMergesAdjacentRangesAndFlushesDisjointOnes() throws {
    var gather = TLBGather(invalidator: RecordingTLB())
    gather.add(start: 0x1000, size: 0x1000, granule: 0x1000)
    gather.add(start: 0x2000, size: 0x1000, granule: 0x1000)
    gather.add(start: 0x0000, size: 0x1000, granule: 0x1000)
    let (start, end) = (gather.start, gather.end)
    #expect(start == 0 && end == 0x3000)
    let early = gather.invalidator.ranges
    #expect(early.isEmpty)
    gather.add(start: 0x10_0000, size: 0x1000, granule: 0x1000)
    let firstFlush = gather.invalidator.ranges
    #expect(firstFlush == [.init(start: 0, size: 0x3000, granule: 0x1000, leafOnly: true)])
    let table = try makeTable(ToyFormat())
    table.flush(&gather)
    let ranges = gather.invalidator.ranges
    #expect(ranges.count == 2)
    let drained = gather.isEmpty
    #expect(drained)
  }

  @Test func everyRemovedLeafIsHandedToTheInvalidatorAsItJoinsTheGather() throws {
    let table = try makeTable(ToyFormat(runLength: 1))
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0, size: 2 << 20, protection: .readOnly)
    try table.map(virtualAddress: 0x60_0000, physicalAddress: 0, size: 3 * g, protection: .readOnly)
    var gather = TLBGather(invalidator: RecordingTLB())
    try table.unmap(virtualAddress: 0, size: 8 << 20, gather: &gather)
    let added = gather.invalidator.added
    table.flush(&gather)
    // The block and the three pages, before any flush merged them away.
    #expect(added.contains { $0.start == 0x20_0000 && $0.size == 2 << 20 && $0.granule == 2 << 20 })
    #expect(added.contains { $0.start == 0x60_0000 && $0.size == 3 * g && $0.granule == g })
  }

  @Test func unmappingAWholeLeafTableInvalidatesOnceIncludingWalkCaches() throws {
    let table = try makeTable(ToyFormat(runLength: 1))
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x40_1000, size: 512 * g, protection: .readWrite)
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(try table.unmap(virtualAddress: 0x20_0000, size: 512 * g, gather: &gather) == 512 * g)
    table.flush(&gather)
    let once = gather.invalidator.ranges
    #expect(once.count == 1, "leaves and the unlinked tables' ranges merge into one")
    #expect(once.first?.start == 0 && once.first?.granule == g && once.first?.leafOnly == false)
    #expect(once.first!.size >= 0x40_0000, "covers the leaves and the freed tables' reach")
  }

  @Test func contiguousRunsAreWrittenWhenAlignedAndBrokenBeforePartialUnmap() throws {
    let table = try makeTable(ToyFormat())
    let va: UInt64 = 0x40_0000
    try table.map(
      virtualAddress: va, physicalAddress: 0x80_0000, size: 6 * g, protection: .readWrite)
    for k: UInt64 in 0..<4 {
      #expect(table.translate(va + k * g)!.entry & 16 != 0, "run member \(k)")
    }
    for k: UInt64 in 4..<6 {
      #expect(table.translate(va + k * g)!.entry & 16 == 0, "short tail \(k)")
    }
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(try table.unmap(virtualAddress: va + g, size: g, gather: &gather) == g)
    table.flush(&gather)
    let tlb = gather.invalidator
    #expect(tlb.covers(va) && tlb.covers(va + 3 * g), "whole run invalidated")
    #expect(table.translate(va + g) == nil)
    for k: UInt64 in [0, 2, 3] {
      let t = try #require(table.translate(va + k * g))
      #expect(t.physicalAddress == 0x80_0000 + k * g)
      #expect(t.entry & 16 == 0, "survivors are plain leaves")
    }
    try unmapAndFlush(table, va, 6 * g)
    #expect(table.memory.liveTables == 1)
  }

  @Test func splittingABlockRebuildsContiguousRunsAroundTheHole() throws {
    let table = try makeTable(ToyFormat())
    let va: UInt64 = 0x20_0000
    try table.map(
      virtualAddress: va, physicalAddress: 0x60_0000, size: 2 << 20, protection: .readWrite)
    try unmapAndFlush(table, va + 5 * g, g)
    // Page 5 is gone; its run (pages 4..<8) is broken; the other runs stay whole.
    #expect(table.translate(va + 5 * g) == nil)
    for k: UInt64 in [0, 1, 2, 3, 8, 511] {
      #expect(table.translate(va + k * g)!.entry & 16 != 0, "page \(k) is in an intact run")
    }
    for k: UInt64 in [4, 6, 7] {
      let t = try #require(table.translate(va + k * g))
      #expect(t.entry & 16 == 0, "page \(k) was in the broken run")
      #expect(t.physicalAddress == 0x60_0000 + k * g)
    }
    try unmapAndFlush(table, va, 2 << 20)
  }

  @Test func readAndClearDirtyReportsEachDirtyLeafOnce() throws {
    let table = try makeTable(ToyFormat(runLength: 1))
    try table.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x10_0000, size: 8 * g, protection: .readWrite)
    // Play the hardware: set the dirty bit of pages 2 and 5.
    for page: UInt64 in [2, 5] {
      #expect(HardwareSimulation.setLeafBits(table, 0x10_0000 + page * g, 32))
    }
    var reported: [UInt64] = []
    try table.readAndClearDirty(virtualAddress: 0x10_0000, size: 8 * g) { va, size in
      #expect(size == g)
      reported.append(va)
    }
    #expect(reported == [0x10_2000, 0x10_5000])
    reported = []
    try table.readAndClearDirty(virtualAddress: 0x10_0000, size: 8 * g) { va, _ in
      reported.append(va)
    }
    #expect(reported.isEmpty, "cleaned leaves are not reported again")
    #expect(table.translate(0x10_2000)?.protection.write == true)
    try unmapAndFlush(table, 0x10_0000, 8 * g)
  }

  @Test func walkVisitsTablesBeforeAndAfterTheirLeaves() throws {
    struct Recorder: PageTableVisitor {
      var events: [String] = []
      mutating func enterTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64) {
        events.append("enter \(level)")
      }
      mutating func leaveTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64) {
        events.append("leave \(level)")
      }
      mutating func visitLeaf(
        virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int,
        protection: Protection, entry: UInt64
      ) { events.append("leaf \(level) \(String(virtualAddress, radix: 16))") }
    }
    let table = try makeTable(ToyFormat())
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0, size: 2 << 20, protection: .readOnly)
    try table.map(virtualAddress: 0x40_1000, physicalAddress: 0, size: g, protection: .readOnly)
    var recorder = Recorder()
    table.walkAll(visitor: &recorder)
    #expect(
      recorder.events == [
        "enter 0", "enter 1", "leaf 1 200000", "enter 2", "leaf 2 401000", "leave 2", "leave 1",
        "leave 0",
      ])
    try unmapAndFlush(table, 0x20_0000, 4 << 20)
  }

  @Test func leakedMappingsAreReportedAndNoTablePageLeaks() throws {
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let leaks = LeakBox()
    do {
      let table = try PageTable(
        format: ToyFormat(), memory: image,
        options: PageTableOptions(leakReporter: { leaks.append($0) }))
      try table.map(
        virtualAddress: 0x10_0000, physicalAddress: 0x30_0000, size: 3 * g, protection: .readWrite)
      try table.map(
        virtualAddress: 0x8000_0000, physicalAddress: 0x4000_0000, size: 1 << 30,
        protection: .readOnly)
      #expect(image.liveTables == 3)
    }
    #expect(
      leaks.runs == [
        MappingRun(
          virtualAddress: 0x10_0000, physicalAddress: 0x30_0000, size: 3 * g, protection: .readWrite
        ),
        MappingRun(
          virtualAddress: 0x8000_0000, physicalAddress: 0x4000_0000, size: 1 << 30,
          protection: .readOnly),
      ])
    #expect(image.liveTables == 0, "every table page was freed despite the leak")
  }

  @Test func strictModeTrapsWhenATableIsFreedWithMappings() async {
    await #expect(processExitsWith: .failure) {
      let table = try makeTable(ToyFormat())
      try table.map(
        virtualAddress: 0x10_0000, physicalAddress: 0, size: 4096, protection: .readOnly)
    }
  }

  @Test func unsupportedProtectionIsRefusedBeforeAnythingChanges() throws {
    let table = try makeTable(ToyFormat())
    let global = Protection(global: true)
    #expect(throws: PageTableError.unsupportedProtection(global)) {
      try table.map(virtualAddress: 0, physicalAddress: 0, size: 4096, protection: global)
    }
    #expect(table.memory.liveTables == 1)
  }

  /// Several threads map, translate and unmap interleaved pages that share leaf
  /// tables, so table installs race, counts are shared and emptied tables are freed
  /// and recreated while others walk. Run under `--sanitize=thread` in CI.
  @Test func concurrentMapAndUnmapOnDisjointRangesSharingTables() throws {
    let table = try makeTable(ToyFormat(runLength: 1), imageBytes: 16 << 20)
    let threads = 4
    let rounds = 300
    let failures = LeakBox()
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      var random = SplitMix64(seed: UInt64(t) + 1)
      do {
        for round in 0..<rounds {
          // Thread t owns every page whose index is t modulo `threads`, across 8 leaf
          // tables (2 MiB each) in two 1 GiB regions.
          let region = UInt64(random.next() % 2) << 30
          let leafTable = UInt64(random.next() % 4) << 21
          let count = 1 + Int(random.next() % 8)
          var mine: [UInt64] = []
          for k in 0..<count {
            let page = UInt64((k * threads + t) % 512)
            let va = region + leafTable + page * 4096
            if mine.contains(va) { continue }
            try table.map(
              virtualAddress: va, physicalAddress: va + (1 << 32), size: 4096,
              protection: .readWrite)
            mine.append(va)
          }
          for va in mine where table.translate(va)?.physicalAddress != va + (1 << 32) {
            failures.append(
              MappingRun(
                virtualAddress: va, physicalAddress: UInt64(round), size: 0, protection: .readOnly))
          }
          var gather = TLBGather(invalidator: RecordingTLB())
          for va in mine { _ = try table.unmap(virtualAddress: va, size: 4096, gather: &gather) }
          table.flush(&gather)
          for va in mine where table.translate(va) != nil {
            failures.append(
              MappingRun(
                virtualAddress: va, physicalAddress: UInt64(round), size: 1, protection: .readOnly))
          }
        }
      } catch {
        failures.append(
          MappingRun(virtualAddress: 0, physicalAddress: 0, size: 2, protection: .readOnly))
      }
    }
    #expect(failures.runs.isEmpty)
    #expect(table.dump().isEmpty)
    // Tables a flush retired while others were in flight wait for the next flush.
    var gather = TLBGather(invalidator: RecordingTLB())
    table.flush(&gather)
    #expect(table.retiredTableCount == 0, "a flush after the operations reclaimed every table")
    // Empty tables abandoned by a lost reservation race are freed at teardown; all
    // tables that unmap emptied were freed.
    #expect(table.memory.liveTables >= 1)
  }
}

/// A thread-safe list, for closures that must be `@Sendable`.
final class LeakBox: @unchecked Sendable {
  private let lock = NSLockLike()
  private var storage: [MappingRun] = []
  func append(_ run: MappingRun) { lock.withLock { storage.append(run) } }
  var runs: [MappingRun] { lock.withLock { storage } }
}

/// A tiny lock for tests (Synchronization's Mutex needs a ~Copyable owner).
final class NSLockLike: @unchecked Sendable {
  private let queue = DispatchQueue(label: "test-lock")
  func withLock<R>(_ body: () -> R) -> R { queue.sync(execute: body) }
}

/// Table memory whose tables allocated for overwrite are full of garbage, to prove
/// the engine writes every entry of such a table before anyone reads it.
final class GarbageTableMemory: ForwardingTableMemory, @unchecked Sendable {
  let image: ImageTableMemory
  private let counter = LeakBox()
  var overwriteAllocations: Int { counter.runs.count }

  init() throws {
    image = try ImageTableMemory(base: 0x4000_0000, byteCount: 4 << 20)
  }

  func allocateTable(byteCount: Int) -> UInt64? { image.allocateTable(byteCount: byteCount) }
  func allocateTableForOverwrite(byteCount: Int) -> UInt64? {
    guard let address = image.allocateTable(byteCount: byteCount) else { return nil }
    image.withTable(at: address, byteCount: byteCount) { view in
      for i in 0..<view.count { view.store(i, 0xDEAD_BEEF_0000_0001 &+ UInt64(i)) }
    }
    counter.append(
      MappingRun(virtualAddress: address, physicalAddress: 0, size: 0, protection: .readOnly))
    return address
  }
}
