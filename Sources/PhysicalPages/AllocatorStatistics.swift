/// A snapshot of a machine's allocator.
///
/// ```swift
/// memory.drainThreadCache()
/// let stats = memory.statistics()
/// print(stats.freeBlocksPerOrder, stats.allocatedPages, stats.highWaterMark)
/// ```
///
/// Every page is in exactly one of: a buddy free list (`freePagesInBuddy`), never used
/// (`untouchedPages`, above the frontier), a per-thread cache (`cachedPages`),
/// an allocated block (`allocatedPages`) or quarantine (`quarantinedPages`).
///
/// Cached pages are free but reserved by one thread: they count as *in use* for
/// `pagesInUse` and `highWaterMark` (which the buddy keeps exactly, under its lock),
/// and not for `allocatedPages`. A thread caches blocks of orders 0 through 3, at most
/// 112 pages per machine (64 single pages and 16 pages of each higher order); call
/// ``PhysicalMemory/drainThreadCache()`` to return the calling thread's.
public struct AllocatorStatistics: Sendable, Equatable {
  /// The number of page frames of RAM.
  public var pageCount: Int
  /// Free blocks on the buddy's free lists, indexed by order 0...maxOrder.
  public var freeBlocksPerOrder: [Int]
  /// Pages on the buddy's free lists.
  public var freePagesInBuddy: Int
  /// Pages never used yet (above the buddy's frontier).
  public var untouchedPages: Int
  /// Pages in allocated blocks.
  public var allocatedPages: Int
  /// Pages sitting in per-thread caches.
  public var cachedPages: Int
  /// Pages withdrawn because they were modified after free.
  public var quarantinedPages: Int
  /// Pages off the buddy's free lists: allocated + cached + quarantined.
  public var pagesInUse: Int
  /// The largest `pagesInUse` so far.
  public var highWaterMark: Int

  /// Pages any thread can allocate: on free lists or never used.
  public var freePages: Int { freePagesInBuddy + untouchedPages }
}

extension PhysicalMemory {
  /// The allocator's state right now (O(frames ever used)).
  public func statistics() -> AllocatorStatistics {
    let (counts, frontier, inUse, highWater) = core.buddy.withAnnotatedLock {
      ($0.freeBlockCounts, $0.frontier, $0.pagesInUse, $0.highWaterMark)
    }
    var allocated = 0
    var cached = 0
    var quarantined = 0
    var index = 0
    while index < frontier {
      let flags = core.flags(index)
      let pages = flags.state == .tail ? 1 : 1 << flags.order
      switch flags.state {
      case .allocated: allocated += pages
      case .cached: cached += pages
      case .quarantined: quarantined += pages
      case .free, .tail: break
      }
      index += pages
    }
    var inBuddy = 0
    for (order, count) in counts.enumerated() { inBuddy += count << order }
    return AllocatorStatistics(
      pageCount: core.frameCount, freeBlocksPerOrder: counts, freePagesInBuddy: inBuddy,
      untouchedPages: core.frameCount - frontier, allocatedPages: allocated, cachedPages: cached,
      quarantinedPages: quarantined, pagesInUse: inUse, highWaterMark: highWater)
  }
}
