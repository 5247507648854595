import Testing

@testable import PhysicalPages

@Suite struct BuddyAllocatorTests {
  @Test func everyOrderFrom0Through10IsANaturallyAlignedBlock() throws {
    let memory = try makeMemory(pages: 4096)
    for order in 0...PhysicalMemory.maxOrder {
      let block = try memory.allocatePages(order: order)
      #expect(block.order == order)
      #expect(block.byteCount == 4096 << order)
      #expect(block.physicalAddress.rawValue % UInt64(4096 << order) == 0)
      #expect(memory.leakReport().entries.map(\.order) == [order])
    }
    #expect(throws: PageError.invalidOrder(11)) { _ = try memory.allocatePages(order: 11) }
    #expect(throws: PageError.invalidOrder(-1)) { _ = try memory.allocatePages(order: -1) }
  }

  @Test func freeingEverythingCoalescesBackToMaxOrderBlocks() throws {
    let memory = try makeMemory(pages: 2048)
    var pages: [SharedPage] = []
    var expectedPages = 0
    for order in [0, 3, 0, 1, 5, 0, 2, 9, 0, 4, 1, 0] {
      pages.append(SharedPage(try memory.allocatePages(order: order)))
      expectedPages += 1 << order
    }
    var stats = memory.statistics()
    #expect(stats.allocatedPages == expectedPages)
    #expect(stats.freeBlocksPerOrder[0...9].contains { $0 > 0 })
    let highWater = stats.highWaterMark
    #expect(highWater >= expectedPages)
    pages.removeAll()
    memory.drainThreadCache()
    stats = memory.statistics()
    #expect(stats.allocatedPages == 0)
    #expect(stats.cachedPages == 0)
    #expect(stats.pagesInUse == 0)
    #expect(Array(stats.freeBlocksPerOrder[0...9]) == Array(repeating: 0, count: 10))
    #expect(stats.freeBlocksPerOrder[10] * 1024 + stats.untouchedPages == 2048)
    #expect(stats.freePages == 2048)
    #expect(stats.highWaterMark == highWater)
  }

  @Test func splittingHandsOutBuddiesAndCoalescingMergesThem() throws {
    let memory = try makeMemory(pages: 1024)
    let first = try memory.allocatePages(order: 9)
    let second = try memory.allocatePages(order: 9)
    #expect(second.physicalAddress.rawValue ^ first.physicalAddress.rawValue == 4096 << 9)
    #expect(throws: PageError.outOfMemory(order: 0)) { _ = try memory.allocatePage() }
    _ = consume first
    _ = consume second
    #expect(memory.statistics().freeBlocksPerOrder[10] == 1)
    _ = try memory.allocatePages(order: 10)
  }

  @Test func ramThatIsNotAWholeNumberOfMaxOrderBlocksIsFullyUsable() throws {
    let memory = try makeMemory(pages: 1024 + 3)
    var pages: [SharedPage] = []
    for _ in 0..<1027 { pages.append(SharedPage(try memory.allocatePage())) }
    #expect(Set(pages.map(\.frameNumber)).count == 1027)
    #expect(throws: PageError.outOfMemory(order: 0)) { _ = try memory.allocatePage() }
    pages.removeAll()
    memory.drainThreadCache()
    let stats = memory.statistics()
    #expect(stats.freeBlocksPerOrder[10] == 1)
    #expect(stats.freeBlocksPerOrder[0] == 1 && stats.freeBlocksPerOrder[1] == 1)
    #expect(stats.freePages == 1027)
  }

  @Test func zeroedAllocationClearsStaleBytes() throws {
    let memory = try makeMemory()
    let frame: UInt64
    do {
      let page = try memory.allocatePage()
      frame = page.frameNumber
      try page.write(Array(repeating: 0xff, count: 4096), at: 0)
    }
    let again = try memory.allocatePage(zeroed: true)
    #expect(again.frameNumber == frame)  // LIFO per-thread cache
    #expect(try again.read(at: 0, count: 4096) == Array(repeating: 0, count: 4096))
    let block = try memory.allocatePages(order: 2, zeroed: true)
    #expect(try block.read(at: 0, count: block.byteCount).allSatisfy { $0 == 0 })
  }

  @Test func statisticsCountCachedPagesSeparately() throws {
    let memory = try makeMemory()
    do { _ = try memory.allocatePage() }
    var stats = memory.statistics()
    #expect(stats.allocatedPages == 0)
    #expect(stats.cachedPages > 0)
    #expect(stats.pagesInUse == stats.cachedPages)
    memory.drainThreadCache()
    stats = memory.statistics()
    #expect(stats.cachedPages == 0)
    #expect(stats.pagesInUse == 0)
    #expect(stats.highWaterMark >= 1)
  }
}
