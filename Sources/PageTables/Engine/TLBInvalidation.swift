/// The TLB maintenance a page table's user performs when the engine asks.
///
/// Implement it with the hardware's instructions (`TLBI` on ARM64, `INVLPG` on
/// x86-64, `SFENCE.VMA` on RISC-V), a driver's invalidation commands, or, in tests,
/// a model that records what was asked. Linux's `iommu_flush_ops` is the model.
public protocol TLBInvalidator {
  /// Invalidates every translation of the address space.
  mutating func invalidateAll()
  /// Invalidates every translation that overlaps `[start, start + size)`.
  /// `granule` is the smallest leaf size in the range (a stride that meets every
  /// leaf); an implementation may invalidate more, such as the whole address
  /// space when `size / granule` is large. `leafOnly` is false when tables were
  /// unlinked, so cached intermediate walk entries must go too.
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool)
  /// Removed leaves `[start, start + size)` (of at least `granule` bytes) were added
  /// to a gather: Linux's `tlb_add_page`. A driver that queues one invalidation per
  /// page (an IOMMU command queue) issues it here; the default does nothing and
  /// leaves the work to the gather's merged range at flush.
  mutating func addedToGather(start: UInt64, size: UInt64, granule: UInt64)
}

extension TLBInvalidator {
  public mutating func addedToGather(start: UInt64, size: UInt64, granule: UInt64) {}
}

/// A batch of TLB invalidations and freed tables, flushed together.
///
/// `unmap` adds every range it removes; overlapping and adjacent ranges merge into
/// one, as Linux's `iommu_iotlb_gather` does, and a disjoint range first flushes
/// the batch. Tables that unmap emptied and unlinked are held here until
/// ``PageTable/flush(_:)`` has invalidated the TLB: only then may the hardware no
/// longer reach them, so only then are they freed.
///
/// A gather is `~Copyable` and must be flushed before it is dropped; dropping one
/// with pending work traps, since it would leak tables and leave stale TLB entries.
public struct TLBGather<Invalidator: TLBInvalidator>: ~Copyable {
  /// The invalidator that receives the batch's invalidations.
  public var invalidator: Invalidator
  /// The start of the pending range.
  public private(set) var start: UInt64 = 0
  /// The end (exclusive) of the pending range; equal to `start` when empty.
  public private(set) var end: UInt64 = 0
  /// The smallest granule added to the pending range (a stride that meets every leaf).
  public private(set) var granule: UInt64 = 0
  /// Whether tables were unlinked, so walk caches must be invalidated.
  public private(set) var freesTables = false
  /// How many times the batch was handed to the invalidator.
  public private(set) var flushCount = 0

  // Unlinked tables waiting for the flush: the first few inline (an unmap of a few
  // pages frees at most one table per level, and a gather is made per unmap, so
  // the common case never allocates), the rest in `moreTables`.
  @usableFromInline static var inlineTableCapacity: Int { 4 }
  @usableFromInline var inlineTableAddresses = InlineArray<4, UInt64>(repeating: 0)
  @usableFromInline var inlineTableBytes = InlineArray<4, Int>(repeating: 0)
  @usableFromInline var freedTableCount = 0
  @usableFromInline var moreTables: [(address: UInt64, byteCount: Int)] = []

  public init(invalidator: Invalidator) {
    self.invalidator = invalidator
  }

  /// Tables unlinked from the tree and waiting for the flush: (address, bytes).
  public var freedTables: [(address: UInt64, byteCount: Int)] {
    var tables: [(address: UInt64, byteCount: Int)] = []
    forEachFreedTable { tables.append(($0, $1)) }
    return tables
  }

  /// Whether nothing is pending.
  public var isEmpty: Bool { start == end && freedTableCount == 0 }

  /// Adds `[start, start + size)` whose smallest leaves are `granule` bytes. A range
  /// that overlaps or touches the pending one merges with it (keeping the smaller
  /// granule); a disjoint one first flushes the batch's invalidation (not its
  /// tables, which wait for ``PageTable/flush(_:)``).
  public mutating func add(start newStart: UInt64, size: UInt64, granule newGranule: UInt64) {
    invalidator.addedToGather(start: newStart, size: size, granule: newGranule)
    let newEnd = newStart &+ size
    if start == end {
      start = newStart
      end = newEnd
      granule = newGranule
      return
    }
    if newStart <= end && newEnd >= start {
      start = min(start, newStart)
      end = max(end, newEnd)
      granule = min(granule, newGranule)
      return
    }
    invalidatePending()
    start = newStart
    end = newEnd
    granule = newGranule
  }

  /// Records a table that was unlinked (its range must also be added).
  public mutating func addFreedTable(at address: UInt64, byteCount: Int) {
    freesTables = true
    if freedTableCount < Self.inlineTableCapacity {
      unsafe inlineTableAddresses[unchecked: freedTableCount] = address
      unsafe inlineTableBytes[unchecked: freedTableCount] = byteCount
    } else {
      moreTables.append((address, byteCount))
    }
    freedTableCount &+= 1
  }

  /// Calls `body` with each freed table's address and size, in the order added.
  func forEachFreedTable(_ body: (UInt64, Int) -> Void) {
    let inline = min(freedTableCount, Self.inlineTableCapacity)
    for i in 0..<inline {
      unsafe body(inlineTableAddresses[unchecked: i], inlineTableBytes[unchecked: i])
    }
    if freedTableCount > Self.inlineTableCapacity {
      for table in moreTables { body(table.address, table.byteCount) }
    }
  }

  /// Forgets the freed tables (after they were freed or retired).
  mutating func removeFreedTables() {
    if freedTableCount > Self.inlineTableCapacity { moreTables = [] }
    freedTableCount = 0
  }

  /// Hands the pending range to the invalidator and empties it.
  mutating func invalidatePending() {
    guard start != end || freesTables else { return }
    if start != end {
      invalidator.invalidate(
        start: start, size: end &- start, granule: granule, leafOnly: !freesTables)
    } else {
      invalidator.invalidateAll()
    }
    flushCount += 1
    start = 0
    end = 0
    granule = 0
    freesTables = false
  }

  deinit {
    if start != end || freedTableCount != 0 {
      fatalError("TLBGather dropped with pending invalidations: call PageTable.flush(_:) first")
    }
  }
}
