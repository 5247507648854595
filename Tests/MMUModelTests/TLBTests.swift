import MMUModel
import PageTables
import Testing

/// The TLB: tagging, entry sizes, shape and replacement, and the invalidation commands.
@Suite struct TLBTests {
  @Test func secondAccessIsServedByTheTLB() throws {
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48))
    try rig.table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x20_0000,
      protection: .readWrite)
    #expect(try rig.mmu.access(0x20_0010, in: rig.space).servedByTLB == false)
    let hit = try rig.mmu.access(0x3F_FFF8, .write, in: rig.space)
    #expect(hit.servedByTLB)
    #expect(hit.physicalAddress == 0x803F_FFF8)
    #expect(hit.size == 0x20_0000)
    try rig.tearDown([(0x20_0000, 0x20_0000)])
    #expect(rig.mmu.reports.isEmpty)
  }

  @Test func contiguousRunIsOneEntry() throws {
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48))
    // 16 × 4 KiB, aligned: one contiguous run.
    try rig.table.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x8010_0000, size: 0x1_0000,
      protection: .readWrite)
    #expect(try rig.mmu.access(0x10_0000, in: rig.space).servedByTLB == false)
    let member = try rig.mmu.access(0x10_F008, in: rig.space)
    #expect(member.servedByTLB)
    #expect(member.size == 0x1_0000)
    #expect(member.physicalAddress == 0x8010_F008)

    // Without run caching, each member is its own entry.
    var configuration = MMUConfiguration()
    configuration.cacheContiguousRuns = false
    let plain = try Rig(try ARM64Format(granule: .k4, inputBits: 48), configuration: configuration)
    try plain.table.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x8010_0000, size: 0x1_0000,
      protection: .readWrite)
    _ = try plain.mmu.access(0x10_0000, in: plain.space)
    #expect(try plain.mmu.access(0x10_F008, in: plain.space).servedByTLB == false)
    try rig.tearDown([(0x10_0000, 0x1_0000)])
    try plain.tearDown([(0x10_0000, 0x1_0000)])
  }

  @Test func napotRunIsOneEntry() throws {
    let rig = try Rig(RISCVFormat(.sv48))
    try rig.table.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x8010_0000, size: 0x1_0000,
      protection: .readWrite)
    _ = try rig.mmu.access(0x10_0000, in: rig.space)
    let member = try rig.mmu.access(0x10_8000, in: rig.space)
    #expect(member.servedByTLB)
    #expect(member.size == 0x1_0000)
    try rig.tearDown([(0x10_0000, 0x1_0000)])
  }

  @Test func entriesAreTaggedByASIDUnlessGlobal() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 4 << 20)
    let mmu = try MMU(format: format, memory: image)
    let a = try PageTable(format: format, memory: mmu.observing(image))
    let b = try PageTable(format: format, memory: mmu.observing(image))
    let spaceA = mmu.attach(a, asid: 1)
    let spaceB = mmu.attach(b, asid: 2)
    try a.map(
      virtualAddress: 0x1000, physicalAddress: 0x8000_1000, size: 0x1000, protection: .readWrite)
    try b.map(
      virtualAddress: 0x1000, physicalAddress: 0x9000_1000, size: 0x1000, protection: .readWrite)
    try a.map(
      virtualAddress: 0x2000, physicalAddress: 0x8000_2000, size: 0x1000,
      protection: Protection(write: true, global: true))
    #expect(try mmu.access(0x1000, in: spaceA).physicalAddress == 0x8000_1000)
    #expect(try mmu.access(0x1000, in: spaceB).physicalAddress == 0x9000_1000)
    #expect(try mmu.access(0x1000, in: spaceA).servedByTLB)
    #expect(try mmu.access(0x1000, in: spaceB).servedByTLB)
    // A global entry filled by one space serves every ASID.
    _ = try mmu.access(0x2000, in: spaceA)
    let shared = try mmu.access(0x2000, in: spaceB)
    #expect(shared.servedByTLB && shared.physicalAddress == 0x8000_2000)
    // By ASID: only that ASID's non-global entries go.
    mmu.invalidate(.asid(1))
    #expect(try mmu.access(0x1000, in: spaceA).servedByTLB == false)
    #expect(try mmu.access(0x1000, in: spaceB).servedByTLB)
    #expect(try mmu.access(0x2000, in: spaceB).servedByTLB)
    // By ASID and VA: the global entry of the range goes too.
    mmu.invalidate(
      .asidRange(asid: 2, start: 0x2000, size: 0x1000, granule: 0x1000, leafOnly: true))
    // Space B maps nothing at 0x2000 of its own.
    #expect(throws: MMUFault.self) { try mmu.access(0x2000, in: spaceB) }
    #expect(mmu.reports.isEmpty)
    for (table, space, va) in [(a, spaceA, 0x1000), (b, spaceB, 0x1000), (a, spaceA, 0x2000)] {
      var gather = TLBGather(invalidator: mmu.invalidator(for: space))
      try table.unmap(virtualAddress: UInt64(va), size: 0x1000, gather: &gather)
      table.flush(&gather)
    }
    mmu.detach(spaceA)
    mmu.detach(spaceB)
  }

  @Test func aFullSetEvictsItsLeastRecentlyUsedWay() throws {
    var configuration = MMUConfiguration()
    configuration.tlbEntries = 4
    configuration.tlbWays = 4
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48), configuration: configuration)
    try rig.table.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x8010_0000, size: 0x5000,
      protection: .readWrite)
    for page in 0..<4 { _ = try rig.mmu.access(0x10_0000 + UInt64(page) * 0x1000, in: rig.space) }
    _ = try rig.mmu.access(0x10_0000, in: rig.space)  // page 0 is now the most recent
    _ = try rig.mmu.access(0x10_4000, in: rig.space)  // evicts page 1
    #expect(try rig.mmu.access(0x10_0000, in: rig.space).servedByTLB)
    #expect(try rig.mmu.access(0x10_1000, in: rig.space).servedByTLB == false)
    try rig.tearDown([(0x10_0000, 0x5000)])
  }

  @Test func firstInFirstOutEvictsTheOldestFill() throws {
    var configuration = MMUConfiguration()
    configuration.tlbEntries = 4
    configuration.tlbWays = 4
    configuration.replacement = .firstInFirstOut
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48), configuration: configuration)
    try rig.table.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x8010_0000, size: 0x5000,
      protection: .readWrite)
    for page in 0..<4 { _ = try rig.mmu.access(0x10_0000 + UInt64(page) * 0x1000, in: rig.space) }
    _ = try rig.mmu.access(0x10_0000, in: rig.space)  // a hit does not refresh a FIFO entry
    _ = try rig.mmu.access(0x10_4000, in: rig.space)  // evicts page 0
    #expect(try rig.mmu.access(0x10_1000, in: rig.space).servedByTLB)
    #expect(try rig.mmu.access(0x10_0000, in: rig.space).servedByTLB == false)
    try rig.tearDown([(0x10_0000, 0x5000)])
  }

  @Test func aBadShapeIsATypedError() throws {
    var configuration = MMUConfiguration()
    configuration.tlbEntries = 6
    #expect(throws: MMUConfigurationError.self) {
      _ = try MMU(
        format: try ARM64Format(granule: .k4, inputBits: 48),
        memory: ImageTableMemory(base: 0, byteCount: 4096), configuration: configuration)
    }
  }

  @Test func aRangeWithAStrideLargerThanTheEntryMissesIt() throws {
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48))
    try rig.table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x4000,
      protection: .readWrite)
    _ = try rig.mmu.access(0x20_1000, in: rig.space)
    // Stride 2 MiB from 0x20_0000 visits only 0x20_0000: the page at 0x20_1000 stays.
    rig.mmu.invalidate(
      .asidRange(asid: 1, start: 0x20_0000, size: 0x20_0000, granule: 0x20_0000, leafOnly: true))
    #expect(try rig.mmu.access(0x20_1000, in: rig.space).servedByTLB)
    rig.mmu.invalidate(
      .asidRange(asid: 1, start: 0x20_0000, size: 0x20_0000, granule: 0x1000, leafOnly: true))
    #expect(try rig.mmu.access(0x20_1000, in: rig.space).servedByTLB == false)
    try rig.tearDown([(0x20_0000, 0x4000)])
  }

  @Test func theGatherFlushReachesTheModelUnchanged() throws {
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48))
    try rig.table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x3000,
      protection: .readWrite)
    var gather = TLBGather(invalidator: rig.mmu.invalidator(for: rig.space))
    try rig.table.unmap(virtualAddress: 0x20_0000, size: 0x2000, gather: &gather)
    rig.table.flush(&gather)
    #expect(
      gather.invalidator.commands == [
        .asidRange(asid: 1, start: 0x20_0000, size: 0x2000, granule: 0x1000, leafOnly: true)
      ])
    try rig.tearDown([(0x20_2000, 0x1000)])
    #expect(rig.mmu.reports.isEmpty)
  }
}
