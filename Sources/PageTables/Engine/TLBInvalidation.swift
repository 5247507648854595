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
  ///
  /// The engine also calls it in the middle of an operation that replaces a live
  /// entry (splitting a block, breaking a contiguous run, changing a memory type on
  /// ARM64): the invalidation must be complete (`DSB` after `TLBI`, a completed
  /// command-queue sync) when it returns, since the new entry is written next.
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
/// ```swift
/// var gather = TLBGather(invalidator: myTLB)
/// try table.unmap(virtualAddress: va, size: 0x4000, gather: &gather)
/// try table.unmap(virtualAddress: va + 0x8000, size: 0x4000, gather: &gather)
/// table.flush(&gather)          // one invalidation, then the emptied tables are freed
/// ```
///
/// A gather remembers the table whose emptied tables it holds, so they always go
/// back to that table's memory: flushing it through another table, or using it
/// with a second table, still frees each table where it belongs. Dropping a gather
/// with pending work flushes it (invalidation, then the tables are freed), so an
/// error that propagates past it neither leaks tables nor leaves stale TLB entries;
/// call ``PageTable/flush(_:)`` to choose the moment yourself.
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

  /// Unlinked tables waiting for the flush.
  @usableFromInline var unlinked = UnlinkedTables()
  /// The table the unlinked tables belong to (set when the first one is added).
  @usableFromInline var owner: PageTableReclaimer?

  /// Makes an empty gather that hands its invalidations to `invalidator`.
  public init(invalidator: Invalidator) {
    self.invalidator = invalidator
  }

  /// Tables unlinked from the tree and waiting for the flush: (address, bytes).
  public var freedTables: [(address: UInt64, byteCount: Int)] {
    var tables: [(address: UInt64, byteCount: Int)] = []
    unlinked.visit { tables.append(($0, $1)) }
    return tables
  }

  /// How many unlinked tables wait for the flush.
  public var freedTableCount: Int { unlinked.count }

  /// How many unlinked tables the gather holds without allocating.
  public var freedTableCapacity: Int { unlinked.capacity }

  /// Makes room for `count` unlinked tables, so that collecting up to that many
  /// allocates nothing: a caller that must not allocate while it unmaps (a GPU
  /// bind's commit, in the fence-signalling path) reserves its worst case first.
  /// The room stays until the gather is dropped.
  public mutating func reserveCapacity(freedTables count: Int) {
    unlinked.reserveCapacity(count)
  }

  /// Whether nothing is pending.
  public var isEmpty: Bool { start == end && unlinked.count == 0 }

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

  /// Records a table of `owner` that was unlinked (its range must also be added).
  /// A gather that still holds another table's tables hands those back first.
  @usableFromInline
  mutating func addFreedTable(at address: UInt64, byteCount: Int, owner table: PageTableReclaimer) {
    if owner !== table {
      if owner == nil { owner = table } else { adopt(table) }
    }
    freesTables = true
    unlinked.append(address, byteCount)
  }

  /// Makes `table` the owner, first flushing what another table left here.
  @inline(never) @usableFromInline
  mutating func adopt(_ table: PageTableReclaimer) {
    if let previous = owner, unlinked.count != 0 {
      invalidatePending()
      previous.releaseInvalidated(unlinked)
      unlinked.removeAll()
    }
    owner = table
  }

  /// Calls `body` with each freed table's address and size, in the order added.
  func forEachFreedTable(_ body: (UInt64, Int) -> Void) {
    unlinked.visit(body)
  }

  /// Forgets the freed tables (after they were freed or retired).
  mutating func removeFreedTables() {
    unlinked.removeAll()
    // Holding no table, the gather no longer needs (or keeps alive) their table.
    owner = nil
  }

  /// Invalidates `[start, start + size)` now, outside the batch: a live entry was
  /// replaced and the next write must not meet a stale translation (break-before-
  /// make, or the x86 page-size-change rule).
  @usableFromInline
  mutating func invalidateNow(start: UInt64, size: UInt64, granule: UInt64) {
    invalidator.invalidate(start: start, size: size, granule: granule, leafOnly: true)
    flushCount += 1
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

  /// Dropping a gather flushes it: its pending range is invalidated, then its tables
  /// go back to the table they came from.
  deinit {
    if start != end || freesTables {
      var invalidator = self.invalidator
      if start != end {
        invalidator.invalidate(
          start: start, size: end &- start, granule: granule, leafOnly: !freesTables)
      } else {
        invalidator.invalidateAll()
      }
    }
    if unlinked.count != 0, let owner {
      owner.releaseInvalidated(unlinked)
    }
  }
}

/// Tables unlinked by a removal and waiting for their TLB invalidation: the first
/// few inline (an unmap of a few pages frees at most one table per level, so the
/// common case never allocates), the rest in an array.
@usableFromInline
struct UnlinkedTables {
  @usableFromInline static var inlineCapacity: Int { 4 }
  @usableFromInline var addresses = InlineArray<4, UInt64>(repeating: 0)
  @usableFromInline var sizes = InlineArray<4, Int>(repeating: 0)
  @usableFromInline var count = 0
  @usableFromInline var more: [(address: UInt64, byteCount: Int)] = []

  @inlinable @inline(__always)
  init() {}

  @inlinable @inline(__always)
  mutating func append(_ address: UInt64, _ byteCount: Int) {
    if count < Self.inlineCapacity {
      unsafe addresses[unchecked: count] = address
      unsafe sizes[unchecked: count] = byteCount
    } else {
      more.append((address, byteCount))
    }
    count &+= 1
  }

  /// Calls `body` with each table's address and size, in the order added.
  @inline(__always)
  func visit(_ body: (UInt64, Int) -> Void) {
    for i in 0..<min(count, Self.inlineCapacity) {
      unsafe body(addresses[unchecked: i], sizes[unchecked: i])
    }
    if count > Self.inlineCapacity {
      for table in more { body(table.address, table.byteCount) }
    }
  }

  /// How many tables fit without allocating.
  var capacity: Int { Self.inlineCapacity + more.capacity }

  /// Makes room for `total` tables.
  mutating func reserveCapacity(_ total: Int) {
    if total > Self.inlineCapacity { more.reserveCapacity(total - Self.inlineCapacity) }
  }

  /// Forgets every table, keeping the room reserved.
  mutating func removeAll() {
    if count > Self.inlineCapacity { more.removeAll(keepingCapacity: true) }
    count = 0
  }
}

/// The part of every ``PageTable`` a ``TLBGather`` refers to, so that the tables
/// it holds always go back to the table they came from. You never make or
/// subclass one; `PageTable` is the only subclass.
public class PageTableReclaimer: @unchecked Sendable {
  @usableFromInline init() {}

  /// Frees (or retires until no operation can reach them) tables unlinked from this
  /// table whose TLB invalidation has completed.
  @usableFromInline
  func releaseInvalidated(_ tables: UnlinkedTables) {
    fatalError("PageTableReclaimer: PageTable overrides releaseInvalidated")
  }
}

/// An invalidator that does nothing: for tables whose invalidation already happened.
struct CompletedInvalidation: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}
