import MMUModel
import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// `MMU.observeFrees(of:)`: frees through `PhysicalPages` reach the checker without
/// an explicit `pageFreed` call.
@Suite struct PageFreeObserverTests {
  /// A model over tables on `PhysicalPages`, told of the machine's frees.
  struct Machine {
    let ram: PhysicalMemory
    let mmu: MMU<ARM64Format, PhysicalPageTableMemory>
    let table: PageTable<ARM64Format, ObservedTableMemory<PhysicalPageTableMemory>>
    let space: AddressSpace

    init() throws {
      ram = try PhysicalMemory()
      let memory = PhysicalPageTableMemory(ram)
      let format = try ARM64Format(granule: .k4, inputBits: 48)
      mmu = try MMU(format: format, memory: memory)
      table = try PageTable(format: format, memory: mmu.observing(memory))
      space = mmu.attach(table, asid: 1)
      mmu.observeFrees(of: ram)
    }

    /// A data page mapped at `virtualAddress` and used once.
    func mapPage(at virtualAddress: UInt64) throws -> PhysicalAddress {
      let page = try ram.allocatePage().intoPhysicalAddress()
      try table.map(
        virtualAddress: virtualAddress, physicalAddress: page.rawValue, size: 0x1000,
        protection: .readWrite)
      _ = try mmu.access(virtualAddress + 0x10, .write, in: space)
      return page
    }

    /// Frees the page at `address` through `PhysicalPages`.
    func free(_ address: PhysicalAddress) throws {
      let page = try unsafe Page(fromPhysicalAddress: address, in: ram)
      _ = consume page
    }

    func unmap(_ virtualAddress: UInt64, invalidating: Bool) throws {
      if invalidating {
        var gather = TLBGather(invalidator: mmu.invalidator(for: space))
        try table.unmap(virtualAddress: virtualAddress, size: 0x1000, gather: &gather)
        table.flush(&gather)
      } else {
        var gather = TLBGather(invalidator: DroppedInvalidations())
        try table.unmap(virtualAddress: virtualAddress, size: 0x1000, gather: &gather)
        table.flush(&gather)
      }
    }

    func tearDown() {
      mmu.detach(space)
      mmu.stopObservingFrees(of: ram)
    }
  }

  @Test func aStillMappedPageFreedThroughPhysicalPagesIsReported() throws {
    let machine = try Machine()
    let page = try machine.mapPage(at: 0x20_0000)
    try machine.free(page)  // no pageFreed call: the machine tells the model
    let reports = machine.mmu.reports
    #expect(reports.map(\.rule) == [.mappedPageFreed], "\(reports)")
    #expect(reports.first?.physicalAddress == page.rawValue)
    #expect(reports.first?.virtualAddress == 0x20_0000)
    #expect(
      reports.first?.operation == .pageFreed(physicalAddress: page.rawValue, byteCount: 0x1000))
    try machine.unmap(0x20_0000, invalidating: true)
    machine.tearDown()
  }

  @Test func aPageFreedAfterItsUnmapIsInvalidatedIsNotReported() throws {
    let machine = try Machine()
    let page = try machine.mapPage(at: 0x20_0000)
    try machine.unmap(0x20_0000, invalidating: true)  // frees the emptied tables too
    try machine.free(page)
    machine.mmu.checkQuiescent()
    #expect(machine.mmu.reports.isEmpty, "\(machine.mmu.reports)")
    machine.tearDown()
  }

  @Test func aPageFreedWhileTheTLBStillHoldsItIsReported() throws {
    let machine = try Machine()
    let page = try machine.mapPage(at: 0x20_0000)
    try machine.unmap(0x20_0000, invalidating: false)
    _ = machine.mmu.takeReports()  // the tables freed too early: not this test's point
    try machine.free(page)
    let reports = machine.mmu.reports
    #expect(reports.map(\.rule) == [.mappedPageFreed], "\(reports)")
    #expect(reports.first?.physicalAddress == page.rawValue)
    machine.mmu.invalidate(.all)
    machine.tearDown()
  }

  @Test func aTableFreedBeforeItsInvalidationIsReportedOnceThoughToldTwice() throws {
    let machine = try Machine()
    let page = try machine.mapPage(at: 0x20_0000)
    // The emptied tables are freed through the observed memory and, under it, through
    // PhysicalPages: both tell the model.
    try machine.unmap(0x20_0000, invalidating: false)
    let freed = machine.mmu.reports.filter { $0.rule == .tableFreedWhileReachable }
    #expect(!freed.isEmpty)
    let pages = freed.compactMap(\.physicalAddress)
    #expect(Set(pages).count == pages.count, "\(freed)")
    machine.mmu.invalidate(.all)
    try machine.free(page)
    machine.tearDown()
  }

  @Test func afterStoppingTheModelHearsNoFrees() throws {
    let machine = try Machine()
    let page = try machine.mapPage(at: 0x20_0000)
    machine.mmu.stopObservingFrees(of: machine.ram)
    try machine.free(page)
    #expect(machine.mmu.reports.isEmpty)
    try machine.unmap(0x20_0000, invalidating: true)
    machine.tearDown()
  }
}
