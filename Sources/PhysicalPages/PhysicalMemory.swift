import CPageMemory
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A simulated machine's RAM: one sparse memfd mapped once as the direct map, a
/// 16-byte descriptor per page, a buddy allocator with per-thread caches, and a
/// vmalloc area.
///
/// ```swift
/// let memory = try PhysicalMemory()                  // 64 MiB of 4 KiB pages, ~1 ms
/// let table = try memory.allocatePage(zeroed: true)  // a Page: owned, ~Copyable
/// let address = table.intoPhysicalAddress()          // give it to hardware
/// try memory.withPage(at: address) { page in          // borrow it back to edit
///   try page.storeBytes(of: UInt64(0x1234_5003), at: 8)
/// }
/// let owned = try unsafe Page(fromPhysicalAddress: address, in: memory)
/// _ = consume owned                                  // freed here
/// ```
///
/// A large machine only costs what is touched: the memfd is truncated, not filled;
/// the descriptor array is reserved with `MAP_NORESERVE`; and the buddy allocator
/// carves free blocks from a never-used frontier on demand instead of initialising
/// every block up front.
///
/// ## Lifetime
/// ``Page`` values refer to the machine without keeping it alive. If this object
/// is deinitialised while blocks are still allocated, it prints the leak report to
/// standard error and deliberately keeps the mappings alive for the rest of the
/// process, so the surviving pages stay valid; they are never freed to a dead
/// allocator. ``SharedPage`` and ``VmallocBuffer`` hold the mappings alive themselves.
///
/// ## Invariants
/// - Physical address `baseAddress + n * pageSize` is frame `baseFrame + n`, backed by
///   memfd offset `n * pageSize`, visible at `directMap + n * pageSize`.
public final class PhysicalMemory: Sendable {
  /// The largest block order: blocks hold up to 2^maxOrder pages.
  public static let maxOrder = 10

  @usableFromInline let core: MemoryCore

  /// Creates a machine; this costs a memfd, two mappings and no page of memory.
  public init(configuration: Configuration = .default) throws(PageError) {
    core = try MemoryCore(configuration: configuration)
  }

  deinit {
    let report = core.leakReport()
    if !report.isEmpty {
      let message = "PhysicalMemory deinit with pages still allocated:\n\(report)\n"
      _ = unsafe message.utf8CString.withUnsafeBufferPointer { bytes in
        // SAFETY: `bytes` holds the message and its NUL; file descriptor 2 is stderr.
        unsafe write(2, bytes.baseAddress, bytes.count - 1)
      }
      MemoryCore.keepAlive(core)
    }
  }

  /// The configuration this machine was created with.
  public var configuration: Configuration { core.configuration }

  /// The page size in bytes.
  public var pageSize: Int { core.pageSize }

  /// The number of page frames of RAM.
  public var frameCount: Int { core.frameCount }

  /// The physical address range of RAM.
  public var physicalRange: Range<PhysicalAddress> {
    core.configuration
      .baseAddress..<(core.configuration.baseAddress
      + UInt64(core.configuration.byteCount))
  }

  /// Allocates one page.
  ///
  /// Order-0 allocations come from the calling thread's cache and take no lock.
  /// `fileID` and `line` are recorded when `recordAllocationSites` is on.
  public func allocatePage(
    zeroed: Bool = false, fileID: StaticString = #fileID, line: UInt = #line
  ) throws(PageError) -> Page {
    try allocatePages(order: 0, zeroed: zeroed, fileID: fileID, line: line)
  }

  /// Allocates one naturally aligned block of 2^order pages, covered by one ``Page``.
  ///
  /// Blocks of orders 0 through 3 come from the calling thread's cache (no lock, no
  /// buddy split); freed ones go back to the freeing thread's cache.
  public func allocatePages(
    order: Int, zeroed: Bool = false, fileID: StaticString = #fileID, line: UInt = #line
  ) throws(PageError) -> Page {
    let site = core.recordSites ? AllocationSite(fileID: fileID, line: line) : nil
    let index = try core.allocate(order: order, zeroed: zeroed, site: site)
    return Page(core: core, index: index, order: order)
  }

  /// Borrows the allocated block at `address` for the duration of `body`.
  ///
  /// Checked: the address must be page-aligned RAM inside an allocated block (an
  /// address inside a larger block resolves to that block, like `compound_head`).
  /// The page is not freed when `body` returns.
  public func withPage<R>(
    at address: PhysicalAddress, _ body: (borrowing Page) throws(PageError) -> R
  ) throws(PageError) -> R {
    let index = try core.index(of: address)
    guard let block = core.allocatedBlock(containing: index) else {
      throw .pageNotAllocated(frame: core.frameNumber(index))
    }
    return try core.withBorrowedPage(block.head, order: block.order, body)
  }

  /// Borrows the block at `address` without any check.
  ///
  /// - Safety: `address` must be the first page of a block that is allocated for the
  ///   whole call (someone owns it and does not free it meanwhile).
  @unsafe
  public func withPageUnchecked<R, E: Error>(
    at address: PhysicalAddress, _ body: (borrowing Page) throws(E) -> R
  ) throws(E) -> R {
    let index = Int(
      (address.rawValue - core.configuration.baseAddress.rawValue) >> UInt64(core.pageShift))
    return try core.withBorrowedPage(index, order: core.flags(index).order, body)
  }

  /// The direct-map address of the block at `address`, without any check and
  /// without borrowing the page (for hot paths such as a page-table engine's walk).
  ///
  /// - Safety: `address` must be the first page of an allocated block; the pointer
  ///   is valid only while the block stays allocated, and only within the block.
  @unsafe @inlinable @inline(__always)
  public func unsafeDirectMapAddress(uncheckedAt address: PhysicalAddress)
    -> UnsafeMutableRawPointer
  {
    // Masking shifts: the page shift is below 64 by construction (no range checks).
    unsafe core.directMap + (core.uncheckedIndex(of: address) &<< core.pageShift)
  }

  /// The private word of the descriptor of the block at `address` (the word
  /// `Page.unsafePrivateWord` gives), without any check and without borrowing the page.
  ///
  /// - Safety: as for ``unsafeDirectMapAddress(uncheckedAt:)``; the word belongs to
  ///   the block's owner and must not be used after the block is freed.
  @unsafe @inlinable @inline(__always)
  public func unsafePrivateWord(uncheckedAt address: PhysicalAddress)
    -> UnsafeMutablePointer<Atomic<UInt64>>
  {
    // SAFETY: `privateWord` is at byte offset 8 of the descriptor (see `Page.unsafePrivateWord`).
    let raw = unsafe UnsafeMutableRawPointer(core.descriptors + core.uncheckedIndex(of: address))
    return unsafe (raw + PageDescriptor.privateWordOffset).assumingMemoryBound(
      to: Atomic<UInt64>.self)
  }

  /// Returns the calling thread's cached free pages of this machine to the buddy
  /// allocator (useful before reading ``statistics()``).
  public func drainThreadCache() {
    PerThreadPageCache.drainCurrentThread(core)
  }
}

extension MemoryCore {
  /// Lends a page for `body`, without taking or dropping a reference.
  func withBorrowedPage<R, E: Error>(
    _ index: Int, order: Int, _ body: (borrowing Page) throws(E) -> R
  ) throws(E) -> R {
    let page = Page(core: self, index: index, order: order)
    let result: Result<R, E>
    do throws(E) {
      result = .success(try body(page))
    } catch {
      result = .failure(error)
    }
    page.forget()
    return try result.get()
  }
}
