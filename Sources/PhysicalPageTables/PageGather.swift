import PageTables
import PhysicalPages

/// A TLB gather that also holds the pages an ``OwningPageTable`` unmapped, until
/// their invalidation has been issued.
///
/// ```swift
/// var gather = PageGather(releasingPagesAfter: myTLB)
/// try gpu.unmap(virtualAddress: 0x10_0000, size: 0x4000, gather: &gather)
/// gpu.flush(&gather)  // invalidate, free emptied tables, then drop the pages
/// ```
///
/// It is a `TLBGather` whose invalidator (``PageReleasingInvalidator``) passes every
/// invalidation on to yours and then drops the references it holds. The gather's
/// rules carry over: ranges merge, a disjoint range flushes the batch early, and
/// dropping a gather with work pending flushes it. Each of those issues the
/// invalidation before any page is released, so a page never returns to the
/// allocator while a translation to it may still be cached.
public typealias PageGather<Invalidator: TLBInvalidator> = TLBGather<
  PageReleasingInvalidator<Invalidator>
>

extension TLBGather {
  /// An empty gather whose invalidations go to `invalidator`, releasing the pages
  /// it holds after each one.
  public init<Base: TLBInvalidator>(releasingPagesAfter invalidator: Base)
  where Invalidator == PageReleasingInvalidator<Base> {
    self.init(invalidator: PageReleasingInvalidator(invalidator))
  }
}

/// A TLB invalidator that passes every invalidation to `base`, then drops the page
/// references it holds (the pages an ``OwningPageTable`` unmapped into the gather).
///
/// ```swift
/// var gather = PageGather(releasingPagesAfter: myTLB)
/// print(gather.invalidator.heldPages)   // 0
/// ```
public struct PageReleasingInvalidator<Base: TLBInvalidator>: TLBInvalidator {
  /// The invalidator that does the hardware's work.
  public var base: Base
  /// Unmapped pages whose invalidation has not been issued yet.
  var pages: [SharedPage] = []

  /// Passes invalidations to `base`.
  public init(_ base: Base) {
    self.base = base
  }

  /// How many unmapped pages wait for the next invalidation.
  public var heldPages: Int { pages.count }

  /// Invalidates everything through `base`, then releases the held pages.
  public mutating func invalidateAll() {
    base.invalidateAll()
    pages.removeAll()
  }

  /// Invalidates the range through `base`, then releases the held pages (every one
  /// of them was unmapped by an unmap that completed before this invalidation, so
  /// its range is covered by this one or an earlier one).
  public mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    base.invalidate(start: start, size: size, granule: granule, leafOnly: leafOnly)
    pages.removeAll()
  }

  /// Passes `tlb_add_page` on to `base`.
  public mutating func addedToGather(start: UInt64, size: UInt64, granule: UInt64) {
    base.addedToGather(start: start, size: size, granule: granule)
  }
}
