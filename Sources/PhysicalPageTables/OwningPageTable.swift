import PageTables
import PhysicalPages
import Synchronization

/// A page table on physical pages that holds a reference on every page it maps,
/// until the unmap's TLB invalidation has been issued.
///
/// Mapping a `Page` or `SharedPage` here takes a reference; unmapping moves it into
/// the ``PageGather``, which drops it after ``flush(_:)`` has invalidated the TLB.
/// So a page that is still mapped, or whose stale translation may still be cached,
/// cannot be freed by dropping its other owners: its memory is never handed to the
/// next allocation while a GPU can still reach it.
///
/// ```swift
/// let ram = try PhysicalMemory()
/// let gpu = try OwningPageTable(format: AppleUATFormat(), physicalMemory: ram)
/// let buffer = try ram.allocatePages(order: 2, zeroed: true)   // 16 KiB
/// try gpu.map(buffer, at: 0x1_0000_0000, protection: .readWrite)  // the table owns it
/// var gather = PageGather(releasingPagesAfter: myTLB)
/// try gpu.unmap(virtualAddress: 0x1_0000_0000, size: 0x4000, gather: &gather)
/// gpu.flush(&gather)                                           // now it is freed
/// ```
///
/// A page is mapped and unmapped whole (an unmap that cuts through one is refused
/// with ``PageMappingError/splitsMappedPage(virtualAddress:size:)``). Mappings made
/// directly on ``table`` hold no reference. Thread-safe: operations on this object
/// are serialised by a lock.
public final class OwningPageTable<Format: PageTableFormat>: Sendable {
  /// A mapped page and the bytes it covers.
  struct Mapping: Sendable {
    let page: SharedPage
    let size: UInt64
  }

  /// The underlying table (translate, walk and dump through it freely).
  public let table: PageTable<Format, PhysicalPageTableMemory>
  /// Mapped pages by the virtual address of their first byte.
  let mappings = Mutex<[UInt64: Mapping]>([:])

  /// Holds references on the pages mapped through it in `table`.
  public init(_ table: PageTable<Format, PhysicalPageTableMemory>) {
    self.table = table
  }

  /// A new, empty table whose tables are pages of `physicalMemory`.
  public convenience init(
    format: Format, physicalMemory: PhysicalMemory, options: PageTableOptions = PageTableOptions()
  ) throws(PageTableError) {
    self.init(try PageTable(format: format, physicalMemory: physicalMemory, options: options))
  }

  /// Maps the whole block of `page` at `virtualAddress`, taking over its reference.
  ///
  /// - Throws: the engine's `PageTableError` (nothing mapped); the
  ///   page's reference is then dropped with it.
  public func map(_ page: consuming Page, at virtualAddress: UInt64, protection: Protection)
    throws(PageTableError)
  {
    try map(SharedPage(page), at: virtualAddress, protection: protection)
  }

  /// Maps the whole block of `page` at `virtualAddress`, holding a reference on it
  /// until an unmap of it has been flushed.
  ///
  /// - Throws: the engine's `PageTableError`; nothing is mapped and no
  ///   reference is kept.
  public func map(_ page: SharedPage, at virtualAddress: UInt64, protection: Protection)
    throws(PageTableError)
  {
    let size = UInt64(page.byteCount)
    try mappings.withLock { (mappings) throws(PageTableError) in
      guard mappings[virtualAddress] == nil else {
        throw .alreadyMapped(virtualAddress: virtualAddress)
      }
      try table.map(
        virtualAddress: virtualAddress, physicalAddress: page.physicalAddress, size: size,
        protection: protection)
      mappings[virtualAddress] = Mapping(page: page, size: size)
    }
  }

  /// Unmaps every page mapped in `[virtualAddress, virtualAddress + size)` and
  /// moves their references into `gather`, which drops them after its flush.
  ///
  /// - Returns: the number of bytes that were mapped and no longer are.
  /// - Throws: ``PageMappingError/splitsMappedPage(virtualAddress:size:)`` when the
  ///   range cuts through a mapped page, or ``PageMappingError/pageTable(_:)`` for
  ///   a range the engine refuses; nothing changed either way.
  @discardableResult
  public func unmap<Invalidator: TLBInvalidator>(
    virtualAddress: UInt64, size: UInt64, gather: inout PageGather<Invalidator>
  ) throws(PageMappingError) -> UInt64 {
    let end = virtualAddress &+ size
    guard size > 0, end > virtualAddress else {
      // The engine names the fault (zero size, overflow).
      return try unmapRange(virtualAddress, size, gather: &gather)
    }
    return try mappings.withLock { (mappings) throws(PageMappingError) -> UInt64 in
      var inside: [UInt64] = []
      for (start, mapping) in mappings where start < end && virtualAddress < start &+ mapping.size {
        guard start >= virtualAddress, start &+ mapping.size <= end else {
          throw .splitsMappedPage(virtualAddress: start, size: mapping.size)
        }
        inside.append(start)
      }
      let bytes = try unmapRange(virtualAddress, size, gather: &gather)
      for start in inside {
        if let mapping = mappings.removeValue(forKey: start) {
          gather.invalidator.pages.append(mapping.page)
        }
      }
      return bytes
    }
  }

  /// Invalidates the TLB for everything `gather` collected, frees the tables it
  /// holds, and drops the references on the pages it holds after the invalidation
  /// (`table.flush(&gather)` does the same).
  public func flush<Invalidator: TLBInvalidator>(_ gather: inout PageGather<Invalidator>) {
    table.flush(&gather)
  }

  /// The page mapped with its first byte at `virtualAddress`, if any.
  public func page(at virtualAddress: UInt64) -> SharedPage? {
    mappings.withLock { $0[virtualAddress]?.page }
  }

  /// How many pages are mapped through this object.
  public var mappedPageCount: Int { mappings.withLock { $0.count } }

  private func unmapRange<Invalidator: TLBInvalidator>(
    _ virtualAddress: UInt64, _ size: UInt64, gather: inout TLBGather<Invalidator>
  ) throws(PageMappingError) -> UInt64 {
    do {
      return try table.unmap(virtualAddress: virtualAddress, size: size, gather: &gather)
    } catch {
      throw .pageTable(error)
    }
  }
}
