import Testing

@testable import PhysicalPages

/// The per-thread caches of low-order blocks (orders 0 through 3): freed blocks are
/// reused without a lock or a split/merge, while statistics and leak reports stay exact.
@Suite struct ThreadCacheTests {
  @Test func aFreedLowOrderBlockIsReusedWithoutSplittingAgain() throws {
    let memory = try makeMemory(pages: 2048)
    for order in 1...PerThreadPageCache.highestCachedOrder {
      let frame = try memory.allocatePages(order: order).frameNumber
      let before = memory.statistics().freeBlocksPerOrder
      let again = try memory.allocatePages(order: order)
      #expect(again.frameNumber == frame)  // LIFO: the block the thread just freed
      #expect(memory.statistics().freeBlocksPerOrder == before)  // no buddy split
    }
  }

  @Test func cachedBlocksCountAsCachedPagesAndNeverAsLeaks() throws {
    let memory = try makeMemory(pages: 2048)
    do {
      let pair = try memory.allocatePages(order: 1)
      let quad = try memory.allocatePages(order: 2)
      let octet = try memory.allocatePages(order: 3)
      let stats = memory.statistics()
      #expect(stats.allocatedPages == 14)
      #expect(stats.cachedPages == stats.pagesInUse - 14)
      #expect(memory.leakReport().pageCount == 14)
      _ = (pair.order, quad.order, octet.order)
    }
    var stats = memory.statistics()
    #expect(stats.allocatedPages == 0)
    #expect(stats.cachedPages >= 14)
    #expect(stats.pagesInUse == stats.cachedPages)
    #expect(stats.freePages + stats.cachedPages == 2048)
    #expect(memory.leakReport().isEmpty)
    memory.drainThreadCache()
    stats = memory.statistics()
    #expect(stats.cachedPages == 0)
    #expect(stats.pagesInUse == 0)
    #expect(Array(stats.freeBlocksPerOrder[0...9]) == Array(repeating: 0, count: 10))
    #expect(stats.freePages == 2048)
  }

  @Test func aThreadCachesAtMostItsCapacityPerOrder() throws {
    let memory = try makeMemory(pages: 4096)
    for order in 0...PerThreadPageCache.highestCachedOrder {
      var blocks: [SharedPage] = []
      for _ in 0..<(3 * PerThreadPageCache.capacity(order)) {
        blocks.append(SharedPage(try memory.allocatePages(order: order)))
      }
      blocks.removeAll()
      let cached = memory.statistics().cachedPages
      #expect(cached <= PerThreadPageCache.capacity(order) << order)
      #expect(cached >= PerThreadPageCache.batch(order) << order)
      memory.drainThreadCache()
      #expect(memory.statistics().cachedPages == 0)
    }
    #expect(memory.statistics().freePages == 4096)
  }

  @Test func anAllocationTheBuddyCannotServeReturnsTheThreadsCachedBlocksFirst() throws {
    let memory = try makeMemory(pages: 1024)
    for order in 0...PerThreadPageCache.highestCachedOrder {
      do { _ = try memory.allocatePages(order: order) }
    }
    #expect(memory.statistics().cachedPages > 0)
    let whole = try memory.allocatePages(order: 10)  // only if the cached blocks merged back
    #expect(whole.physicalAddress == memory.physicalRange.lowerBound)
    #expect(memory.statistics().cachedPages == 0)
  }

  @Test func theLastFreePagesOfAFullMachineComeOutOfACachedHigherOrderBlock() throws {
    let memory = try makeMemory(pages: 1024)
    do { _ = try memory.allocatePages(order: 3) }  // an order-3 block now sits in the cache
    var pages: [SharedPage] = []
    for _ in 0..<1024 { pages.append(SharedPage(try memory.allocatePage())) }
    #expect(throws: PageError.outOfMemory(order: 0)) { _ = try memory.allocatePage() }
    #expect(Set(pages.map(\.frameNumber)).count == 1024)
    pages.removeAll()
    memory.drainThreadCache()
    #expect(memory.statistics().freeBlocksPerOrder[10] == 1)
  }

  @Test func writeAfterFreeOfACachedBlockIsDetectedWhenItIsReallocated() throws {
    let memory = try makeMemory(poison: true)
    let block = try memory.allocatePages(order: 2)
    let frame = block.frameNumber
    let pointer = unsafe block.unsafeMutableBytes
    _ = consume block
    #expect(memory.statistics().cachedPages >= 4)
    unsafe pointer.storeBytes(of: 0x42, toByteOffset: 3 * 4096 + 7, as: UInt8.self)
    #expect(throws: PageError.poisonOverwritten(frame: frame, offset: 3 * 4096 + 7)) {
      _ = try memory.allocatePages(order: 2)
    }
    #expect(memory.statistics().quarantinedPages == 4)
    #expect(try memory.allocatePages(order: 2).frameNumber != frame)
  }
}
