import MMUModel
import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// The finer points of the rules: which live changes need break-before-make on which
/// architecture, walk caches, quiescence, strict mode, tables on physical pages.
@Suite struct CheckerRuleTests {
  /// Rewrites the leaf for `va` through the image, as a buggy driver's direct write.
  func rewrite<Format: PageTableFormat>(
    _ rig: Rig<Format>, _ va: UInt64, _ change: (UInt64) -> UInt64
  ) throws {
    let entry = try #require(rig.table.translate(va)).entry
    try overwriteLeaf(rig, virtualAddress: va, with: change(entry))
    rig.mmu.synchronize()
  }

  /// Arm's rule, whatever the format description declares.
  static var arm: MMUConfiguration { MMUConfiguration(liveEntryRule: .breakBeforeMake) }

  @Test func armNeedsBreakBeforeMakeForAMemoryTypeChange() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let rig = try Rig(format, configuration: Self.arm)
    try rig.table.map(
      virtualAddress: 0x1000, physicalAddress: 0x8000_1000, size: 0x1000, protection: .readWrite)
    _ = try rig.mmu.access(0x1000, in: rig.space)
    let device = try format.leafTemplate(
      for: Protection(write: true, memoryType: .device), level: 3)
    // AttrIndx (bits 2-4) of the device template, everything else as mapped.
    try rewrite(rig, 0x1000) { ($0 & ~0x1C) | (device & 0x1C) }
    let report = try #require(rig.mmu.reports.first)
    #expect(report.rule == .breakBeforeMake)
    #expect(report.virtualAddress == 0x1000)
    #expect(report.level == 3)
    #expect(report.detail.contains("memory type changed"))
    rig.mmu.invalidate(.all)
    try rig.tearDown([(0x1000, 0x1000)])
  }

  @Test func aPermissionChangeNeedsOnlyAnInvalidation() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let rig = try Rig(format)
    try rig.table.map(
      virtualAddress: 0x1000, physicalAddress: 0x8000_1000, size: 0x1000, protection: .readWrite)
    _ = try rig.mmu.access(0x1000, .write, in: rig.space)
    // AP[2] = 1: read-only, written directly (allowed), not yet invalidated.
    try rewrite(rig, 0x1000) { $0 | 1 << 7 }
    #expect(rig.mmu.reports.isEmpty)
    // The TLB still allows the store: a stale translation.
    _ = try rig.mmu.access(0x1000, .write, in: rig.space)
    #expect(rig.mmu.reports.map(\.rule) == [.staleTranslation])
    rig.mmu.invalidate(
      .asidRange(asid: 1, start: 0x1000, size: 0x1000, granule: 0x1000, leafOnly: true))
    #expect(throws: MMUFault.self) { try rig.mmu.access(0x1000, .write, in: rig.space) }
    #expect(rig.mmu.reports.count == 1)
    try rig.tearDown([(0x1000, 0x1000)])
  }

  @Test func anOutputAddressChangeNeedsBreakBeforeMakeEverywhere() throws {
    for family in ModelFamily.all {
      try family.run(DirectRemap())
    }
  }

  struct DirectRemap: FormatBody {
    func run<Format: PageTableFormat>(_ format: Format, _ protections: [Protection]) throws {
      let rig = try Rig(format)
      let granule = format.geometry.granule
      let va = (format.geometry.windows[0].first &+ 2 * granule) & ~(granule - 1)
      try rig.table.map(
        virtualAddress: va, physicalAddress: dataBase, size: granule, protection: protections[0])
      rig.mmu.synchronize()
      let old = try #require(rig.table.translate(va)).entry
      let moved = format.leafEntry(
        template: try format.leafTemplate(
          for: protections[0], level: format.geometry.levels.count - 1),
        physicalAddress: dataBase + 16 * granule, level: format.geometry.levels.count - 1)
      try overwriteLeaf(rig, virtualAddress: va, with: moved)
      rig.mmu.synchronize()
      #expect(rig.mmu.reports.map(\.rule) == [.breakBeforeMake], "\(format)")
      try overwriteLeaf(rig, virtualAddress: va, with: old)
      rig.mmu.invalidate(.all)
      try rig.tearDown([(va, granule)])
    }
  }

  @Test func bbmLevel2AllowsAnArmBlockSplitWithoutABreak() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    for level2 in [false, true] {
      var configuration = Self.arm
      configuration.hasBBMLevel2 = level2
      let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 4 << 20)
      let mmu = try MMU(format: format, memory: image, configuration: configuration)
      // The engine replaces the block directly when told the hardware has level 2.
      let table = try PageTable(
        format: format, memory: mmu.observing(image),
        options: PageTableOptions(hasBBMLevel2: true))
      let space = mmu.attach(table, asid: 1)
      try table.map(
        virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x20_0000,
        protection: .readWrite)
      _ = try mmu.access(0x20_0000, in: space)
      var gather = TLBGather(invalidator: mmu.invalidator(for: space))
      try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
      table.flush(&gather)
      let rules = mmu.reports.map(\.rule)
      // Without level 2: the block replaced by a table, and the first run of the new
      // table broken, each without a break.
      if level2 {
        #expect(rules.isEmpty, "\(mmu.reports)")
      } else {
        #expect(rules.count == 17 && rules.allSatisfy { $0 == .breakBeforeMake })
      }
      var rest = TLBGather(invalidator: mmu.invalidator(for: space))
      try table.unmap(virtualAddress: 0x20_1000, size: 0x1F_F000, gather: &rest)
      table.flush(&rest)
      mmu.detach(space)
    }
  }

  @Test func aLeafOnlyInvalidationLeavesTheWalkCacheStale() throws {
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48))
    try rig.table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x1000,
      protection: .readWrite)
    _ = try rig.mmu.access(0x20_0000, in: rig.space)
    // The table is unlinked, but the driver's invalidation is leaf-only.
    var gather = TLBGather(invalidator: LeafOnly(mmu: rig.mmu))
    try rig.table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
    rig.table.flush(&gather)
    let report = try #require(rig.mmu.reports.first)
    #expect(report.rule == .tableFreedWhileReachable)
    #expect(report.detail.contains("no invalidation of its range and the walk caches"))
    rig.mmu.invalidate(.all)
    rig.mmu.detach(rig.space)
  }

  /// A driver that always asks for leaf-only invalidation.
  struct LeafOnly: TLBInvalidator {
    let mmu: MMU<ARM64Format, ImageTableMemory>
    mutating func invalidateAll() { mmu.invalidate(.asid(1)) }
    mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
      mmu.invalidate(
        .asidRange(asid: 1, start: start, size: size, granule: granule, leafOnly: true))
    }
  }

  @Test func quiescenceReportsAnUninvalidatedUnmapOnce() throws {
    let rig = try Rig(RISCVFormat(.sv48))
    try rig.table.map(
      virtualAddress: 0x1000, physicalAddress: 0x8000_1000, size: 0x2000, protection: .readWrite)
    rig.mmu.synchronize()
    try rig.unmapWithoutInvalidation(0x1000, 0x1000)
    rig.mmu.checkQuiescent()
    rig.mmu.checkQuiescent()
    let reports = rig.mmu.reports
    #expect(reports.map(\.rule) == [.staleTranslation])
    #expect(reports.first?.operation == .quiescenceCheck)
    #expect(reports.first?.virtualAddress == 0x1000)
    rig.mmu.invalidate(.all)
    try rig.tearDown([(0x2000, 0x1000)])
  }

  @Test func tablesOnPhysicalPagesAreCheckedToo() throws {
    let ram = try PhysicalMemory()
    let memory = PhysicalPageTableMemory(ram)
    let format = try X86_64Format(levels: 4)
    let mmu = try MMU(format: format, memory: memory)
    let table = try PageTable(format: format, memory: mmu.observing(memory))
    let space = mmu.attach(table, asid: 7)
    try table.map(
      virtualAddress: 0x40_0000, physicalAddress: 0x1_0000_0000, size: 0x20_0000,
      protection: .readWrite)
    #expect(try mmu.access(0x40_0123, in: space).physicalAddress == 0x1_0000_0123)
    var gather = TLBGather(invalidator: mmu.invalidator(for: space))
    try table.unmap(virtualAddress: 0x40_0000, size: 0x20_0000, gather: &gather)
    table.flush(&gather)
    mmu.pageFreed(physicalAddress: 0x1_0000_0000, byteCount: 0x20_0000)
    mmu.checkQuiescent()
    #expect(mmu.reports.isEmpty)
    mmu.detach(space)
  }

  @Test func strictModeTrapsAtTheFirstReport() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var configuration = MMUConfiguration()
      configuration.checking = .strict
      let rig = try! Rig(
        try! ARM64Format(granule: .k4, inputBits: 48), configuration: configuration)
      try! rig.table.map(
        virtualAddress: 0x1000, physicalAddress: 0x8000_1000, size: 0x1000, protection: .readWrite)
      rig.mmu.pageFreed(physicalAddress: 0x8000_1000, byteCount: 0x1000)
    }
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains("MMUModel (strict): mappedPageFreed"))
  }
}
