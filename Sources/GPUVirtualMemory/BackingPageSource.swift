import PhysicalPages

/// Where buffer objects get their pages: a shmem-like source of zeroed,
/// naturally aligned blocks of physical memory.
///
/// ```swift
/// let source = PhysicalPageSource(try PhysicalMemory())
/// if let block = source.allocateBlock(order: 2) {   // 4 pages, physically contiguous
///   source.freeBlock(at: block, order: 2)
/// }
/// ```
public protocol BackingPageSource: AnyObject {
  /// The size of one page of the source.
  var pageSize: UInt64 { get }
  /// A zeroed block of `2^order` pages, or nil when memory ran out.
  func allocateBlock(order: Int) -> UInt64?
  /// Gives back a block from ``allocateBlock(order:)``.
  func freeBlock(at physicalAddress: UInt64, order: Int)
  /// Copies `count` bytes at `physicalAddress` (inside an allocated block) out.
  func read(at physicalAddress: UInt64, count: Int) -> [UInt8]
  /// Copies `bytes` to `physicalAddress` (inside an allocated block).
  func write(_ bytes: [UInt8], at physicalAddress: UInt64)
}

/// Buffer-object pages from a `PhysicalMemory`: each block is an owned `Page`
/// turned into its physical address while the object holds it, and taken back
/// (checked: exactly once) to be freed.
public final class PhysicalPageSource: BackingPageSource {
  /// The machine whose pages back the objects.
  public let physicalMemory: PhysicalMemory

  /// A source allocating from `physicalMemory`.
  public init(_ physicalMemory: PhysicalMemory) { self.physicalMemory = physicalMemory }

  /// The machine's page size.
  public var pageSize: UInt64 { UInt64(physicalMemory.pageSize) }

  /// A zeroed block, handed out as its physical address.
  public func allocateBlock(order: Int) -> UInt64? {
    guard let page = try? physicalMemory.allocatePages(order: order, zeroed: true) else {
      return nil
    }
    return page.intoPhysicalAddress().rawValue
  }

  /// Takes the block back and frees it.
  public func freeBlock(at physicalAddress: UInt64, order: Int) {
    do {
      // SAFETY: buffer objects free each block they allocated exactly once, after
      // every mapping of it is gone and the TLB was invalidated.
      let page = try unsafe Page(
        fromPhysicalAddress: PhysicalAddress(physicalAddress), in: physicalMemory)
      _ = consume page
    } catch {
      fatalError(
        "PhysicalPageSource: freeing 0x\(hex(physicalAddress)) that was not handed out: \(error)")
    }
  }

  /// Reads through the block's direct-map view.
  public func read(at physicalAddress: UInt64, count: Int) -> [UInt8] {
    access(physicalAddress) { page, offset throws(PageError) in
      try page.read(at: offset, count: count)
    }
  }

  /// Writes through the block's direct-map view.
  public func write(_ bytes: [UInt8], at physicalAddress: UInt64) {
    access(physicalAddress) { page, offset throws(PageError) in try page.write(bytes, at: offset) }
  }

  /// Runs `body` with the allocated block holding `physicalAddress` and the offset
  /// into it; a buffer object only names its own blocks, so failing is a bug.
  func access<R>(_ physicalAddress: UInt64, _ body: (borrowing Page, Int) throws(PageError) -> R)
    -> R
  {
    do {
      return try physicalMemory.withPage(at: PhysicalAddress(physicalAddress)) {
        page throws(PageError) in
        try body(page, Int(physicalAddress - page.physicalAddress.rawValue))
      }
    } catch {
      fatalError(
        "PhysicalPageSource: 0x\(hex(physicalAddress)) is not in an allocated block: \(error)")
    }
  }
}
