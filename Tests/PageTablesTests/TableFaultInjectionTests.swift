import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// Fault injection below page tables: `FaultInjectingTableMemory` over any table
/// memory, and the page allocator's own `injectFaults` under tables on pages. (The
/// per-format scenarios `tableFaultsInLargeMap` and `tableFaultsInSplitUnmap` run
/// in the format matrix.)
@Suite struct TableFaultInjectionTests {
  @Test func aTableWhoseRootCannotBeAllocatedIsNotCreated() throws {
    let memory = FaultInjectingTableMemory(
      try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20), policy: .failing(allocation: 1))
    #expect(throws: PageTableError.outOfTableMemory) {
      _ = try PageTable(format: ToyFormat(runLength: 1), memory: memory)
    }
    #expect(memory.liveTables == 0)
    #expect(memory.faultInjectionCounts == .init(allocations: 1, injectedFaults: 1))
    let table = try PageTable(format: ToyFormat(runLength: 1), memory: memory)
    #expect(memory.liveTables == table.rootCount)
  }

  /// The same map on tables in physical pages, with the page allocator failing its
  /// N-th allocation (with and without the zero-table cache): the map reports
  /// `outOfTableMemory`, the table translates as before, and after cleanup every
  /// page but the root is back in the allocator.
  @Test(arguments: [0, 4])
  func pageAllocatorFaultsUnderTablesOnPages(cachedTables: Int) throws {
    let ram = try PhysicalMemory()
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let table = try PageTable(
      format: format, memory: PhysicalPageTableMemory(ram, cachedTables: cachedTables))
    try table.map(virtualAddress: 0, physicalAddress: 0, size: 4096, protection: .readWrite)
    let before = table.dump()
    // Pages on both sides of a 1 GiB boundary and a 512 GiB one: many tables.
    let start: UInt64 = (512 << 30) - (2 << 20) - 3 * 4096
    let size: UInt64 = (4 << 20) + 8 * 4096
    var failures = 0
    for n in 1...32 {
      ram.injectFaults(.failing(allocation: n))
      do {
        try table.map(virtualAddress: start, physicalAddress: 0, size: size, protection: .readOnly)
        break
      } catch {
        failures += 1
        #expect(error == .outOfTableMemory)
        #expect(
          table.dump() == before, "allocation \(n) failed: the table must translate as before")
      }
    }
    ram.injectFaults(.never)
    #expect(failures >= 3)
    #expect(table.translate(start + size - 1)?.physicalAddress == size - 1)
    try unmapAndFlush(table, 0, 1 << 40)
    table.memory.drainTableCache()
    ram.drainThreadCache()
    #expect(ram.statistics().allocatedPages == 1, "only the root is left")
  }

  @Test func randomFaultsAcrossManyOperationsLeaveNothingBehind() throws {
    let memory = FaultInjectingTableMemory(
      try ImageTableMemory(base: 0x4000_0000, byteCount: 8 << 20))
    let table = try PageTable(format: try X86_64Format(levels: 4), memory: memory)
    memory.injectFaults(.failing(probability: 0.2, seed: 99))
    var model: [UInt64: UInt64] = [:]
    for k: UInt64 in 0..<300 {
      let va = (k % 7) << 30 + (k % 13) << 21 + (k % 5) << 12
      if model[va] == nil {
        do {
          try table.map(
            virtualAddress: va, physicalAddress: k << 12, size: 4096, protection: .readWrite)
          model[va] = k << 12
        } catch {
          #expect(error == .outOfTableMemory)
        }
      } else if k % 3 == 0 {
        try unmapAndFlush(table, va, 4096)
        model[va] = nil
      }
      if let pa = model[va] { #expect(table.translate(va)?.physicalAddress == pa) }
    }
    #expect(memory.faultInjectionCounts.injectedFaults > 10)
    for (va, pa) in model { #expect(table.translate(va)?.physicalAddress == pa) }
    #expect(table.dump().reduce(0) { $0 + $1.size } == UInt64(model.count) * 4096)
    try unmapAndFlush(table, 0, 8 << 30)
    #expect(memory.liveTables == table.rootCount)
  }
}

/// The safe `withTable` of tables on pages never makes a view outside RAM.
@Suite struct PhysicalTableViewTests {
  @Test func aTableAddressOutsideRAMTrapsNamingTheInvariant() async {
    await #expect(processExitsWith: .failure) {
      let ram = try PhysicalMemory()
      let memory = PhysicalPageTableMemory(ram)
      _ = memory.withTable(at: 0x1000, byteCount: 4096) { $0.load(0) }
    }
    await #expect(processExitsWith: .failure) {
      let ram = try PhysicalMemory()
      let memory = PhysicalPageTableMemory(ram)
      let end = ram.physicalRange.upperBound.rawValue
      _ = memory.withTable(at: end - 8, byteCount: 4096) { $0.load(0) }
    }
  }
}
