import PageTables
import PhysicalPages

/// A TLB gather that also holds the pages an ``OwningPageTable`` unmapped, until
/// the gather's flush has issued their invalidation.
///
/// ```swift
/// var gather = PageGather(invalidator: myTLB)
/// try gpu.unmap(virtualAddress: 0x10_0000, size: 0x4000, gather: &gather)
/// gpu.flush(&gather)  // invalidate, free emptied tables, then drop the pages
/// ```
///
/// Like `TLBGather` it is `~Copyable` and must be flushed: dropping one
/// with invalidations pending traps (the inner gather's rule), so a page can only
/// be released once nothing can translate to it.
public struct PageGather<Invalidator: TLBInvalidator>: ~Copyable {
  /// The TLB batch the unmaps add to.
  public var tlb: TLBGather<Invalidator>
  /// References on unmapped pages, dropped after the invalidation.
  var pages: [SharedPage] = []

  /// An empty gather whose invalidations go to `invalidator`.
  public init(invalidator: Invalidator) {
    tlb = TLBGather(invalidator: invalidator)
  }

  /// How many unmapped pages the gather holds until its flush.
  public var heldPages: Int { pages.count }
}
