import Dispatch
import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// Page tables whose tables are pages of a `PhysicalMemory`: the seed's lifecycle.
@Suite struct PhysicalPageTableTests {
  let g: UInt64 = 4096

  @Test func tablePagesAreAllocatedHandedOutAndFreedWithTheirMappings() throws {
    let ram = try PhysicalMemory()
    let before = ram.statistics().allocatedPages
    let table = try PageTable(format: ToyFormat(runLength: 1), physicalMemory: ram)
    #expect(ram.statistics().allocatedPages == before + 1, "the root is one page")
    try table.map(
      virtualAddress: 0x1234_5000, physicalAddress: 0x9000_0000, size: g, protection: .readWrite)
    #expect(ram.statistics().allocatedPages == before + 3, "a middle and a leaf table")
    // Every table page is handed out as a physical address (owned by the tree), and
    // the leaf table's descriptor private word counts its one live entry.
    let report = ram.leakReport()
    #expect(report.entries.filter(\.isHandedOut).count == 3)
    var gather = TLBGather(invalidator: RecordingTLB())
    try table.unmap(virtualAddress: 0x1234_5000, size: g, gather: &gather)
    table.flush(&gather)
    #expect(
      ram.statistics().allocatedPages == before + 1, "emptied tables went back to the allocator")
  }

  @Test func entriesAreWrittenIntoThePagesThroughTheDirectMap() throws {
    let ram = try PhysicalMemory()
    let table = try PageTable(format: ToyFormat(runLength: 1), physicalMemory: ram)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x40_0000, size: 2 << 20, protection: .readOnly)
    // Read the root entry for VA 0 (level 0 index 0) and the level-1 entry through
    // the page API, as another agent (the hardware) would see them.
    let root = PhysicalAddress(rawValue: table.rootAddress())
    let rootEntry = try ram.withPage(at: root) {
      (page: borrowing Page) throws(PageError) -> UInt64 in
      try page.load(as: UInt64.self, at: 0)
    }
    let middle = PhysicalAddress(rawValue: rootEntry & ToyFormat.addressMask)
    let blockEntry = try ram.withPage(at: middle) {
      (page: borrowing Page) throws(PageError) -> UInt64 in
      try page.load(as: UInt64.self, at: 8)
    }
    #expect(blockEntry == 0x40_0000 | 0b11, "a valid read-only 2 MiB leaf at index 1")
    try unmapAndFlush(table, 0x20_0000, 2 << 20)
  }

  @Test func tablesLargerThanAPageAreOneAlignedBlock() throws {
    let ram = try PhysicalMemory()
    let table = try PageTable(format: ToyFormat(rootIndexBits: 11), physicalMemory: ram)
    #expect(table.rootAddress() % 16384 == 0, "a 16 KiB root is 16 KiB aligned")
    let entry = try #require(
      ram.leakReport().entries.first { $0.physicalAddress.rawValue == table.rootAddress() })
    #expect(entry.order == 2)
    // The top quarter of the root's entries is reachable.
    try table.map(
      virtualAddress: 0x1FF_C000_0000, physicalAddress: 0, size: 1 << 30, protection: .readOnly)
    #expect(table.translate(0x1FF_C000_0000)?.pageSize == 1 << 30)
    try unmapAndFlush(table, 0x1FF_C000_0000, 1 << 30)
  }

  @Test func droppingATableWithLiveMappingsFreesEveryTablePage() throws {
    let ram = try PhysicalMemory()
    let before = ram.statistics().allocatedPages
    do {
      let table = try PageTable(
        format: ToyFormat(runLength: 1), physicalMemory: ram,
        options: PageTableOptions(leakReporter: { _ in }))
      for k: UInt64 in 0..<64 {
        try table.map(
          virtualAddress: k << 21, physicalAddress: k << 12, size: g, protection: .readWrite)
      }
      #expect(ram.statistics().allocatedPages == before + 66)
    }
    #expect(ram.statistics().allocatedPages == before)
    #expect(ram.leakReport().isEmpty)
  }

  @Test func runningOutOfPhysicalMemoryIsAnErrorNotACrash() throws {
    let ram = try PhysicalMemory(configuration: .init(byteCount: 64 << 10))  // 16 pages
    let table = try PageTable(format: ToyFormat(runLength: 1), physicalMemory: ram)
    var mapped = 0
    do {
      for k: UInt64 in 0..<64 {
        try table.map(virtualAddress: k << 30, physicalAddress: 0, size: g, protection: .readOnly)
        mapped += 1
      }
      Issue.record("16 pages cannot hold 64 pairs of tables")
    } catch {
      #expect(error == .outOfTableMemory)
    }
    #expect(table.dump().count == mapped, "the failed request left nothing behind")
    try unmapAndFlush(table, 0, 64 << 30)
    #expect(ram.statistics().allocatedPages == 1)
  }

  /// Threads map and unmap interleaved pages sharing tables while the table pages
  /// come from and return to the page allocator (its per-thread caches included).
  @Test func concurrentMapAndUnmapWithTablesOnPhysicalPages() throws {
    let ram = try PhysicalMemory()
    let table = try PageTable(format: ToyFormat(runLength: 1), physicalMemory: ram)
    let errors = LeakBox()
    DispatchQueue.concurrentPerform(iterations: 4) { t in
      do {
        for round in 0..<200 {
          let region = UInt64(round % 3) << 30
          var gather = TLBGather(invalidator: RecordingTLB())
          for k in 0..<4 {
            let va = region + UInt64((k * 4 + t) % 512) * 4096 + UInt64(k % 2) << 21
            try table.map(
              virtualAddress: va, physicalAddress: va, size: 4096, protection: .readWrite)
            if table.translate(va)?.physicalAddress != va {
              errors.append(
                MappingRun(virtualAddress: va, physicalAddress: 0, size: 0, protection: .readOnly))
            }
            try table.unmap(virtualAddress: va, size: 4096, gather: &gather)
          }
          table.flush(&gather)
        }
      } catch {
        errors.append(
          MappingRun(virtualAddress: 0, physicalAddress: 0, size: 1, protection: .readOnly))
      }
    }
    #expect(errors.runs.isEmpty)
    #expect(table.dump().isEmpty)
    var gather = TLBGather(invalidator: RecordingTLB())
    table.flush(&gather)
    #expect(table.retiredTableCount == 0, "a flush after the operations reclaimed every table")
  }
}
