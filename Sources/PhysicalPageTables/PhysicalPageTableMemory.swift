import PageTables
import PhysicalPages
import Synchronization

/// Table memory on `PhysicalPages`, following the seed's page-table lifecycle
/// literally:
///
/// - **Allocate**: a zeroed page (or an aligned block, for a table larger than a
///   page) is allocated and turned into its physical address with
///   `intoPhysicalAddress()`; the engine writes that address into the parent entry
///   or the root.
/// - **Walk and edit**: the physical address is borrowed as a page, and its entries
///   are read and written through the page's direct-map view.
/// - **Free**: the physical address is turned back into the owned page with
///   `Page(fromPhysicalAddress:in:)` (which checks it was handed out exactly once),
///   and the page is dropped, which frees it.
///
/// Each table's live-entry count lives in its page descriptor's private word, as
/// Linux keeps page-table bookkeeping in `struct ptdesc`: the table page holds the
/// hardware's entries and nothing else.
///
/// ```swift
/// let ram = try PhysicalMemory()
/// let table = try PageTable(format: ARM64Format(granule: .k4, inputBits: 48),
///                           memory: PhysicalPageTableMemory(ram))
/// ```
///
/// ## Cached zero tables
/// With `cachedTables > 0`, freed one-page tables are kept (up to that many) on a
/// stack of known-zero pages and handed out again without zeroing, as Linux's
/// page-table quicklists did (`quicklist_free`/`quicklist_alloc`, removed in 5.x
/// when the page allocator's per-CPU lists made them redundant for Linux): the
/// engine frees only tables whose entries are all empty, so a freed table is
/// already a zeroed table. Cached pages stay allocated and handed out (leak
/// reports and statistics count them) until the cache is full, ``drainTableCache()``
/// is called, an allocation finds the machine out of pages, or the last copy of
/// this memory goes away. The default is no cache: every freed table goes straight
/// back to the page allocator.
public struct PhysicalPageTableMemory: TableMemory {
  /// The machine whose pages hold the tables.
  public let physicalMemory: PhysicalMemory
  /// Known-zero one-page tables waiting to be reused, or nil without a cache.
  let cache: ZeroTableCache?
  /// RAM's first physical address and size, for the checks of ``withTable(at:byteCount:_:)``.
  let ramStart: UInt64
  let ramSize: UInt64

  /// Table memory that allocates from `physicalMemory`, keeping up to
  /// `cachedTables` freed one-page tables for reuse without zeroing (zero or a
  /// negative count: no cache).
  public init(_ physicalMemory: PhysicalMemory, cachedTables: Int = 0) {
    self.physicalMemory = physicalMemory
    let ram = physicalMemory.physicalRange
    self.ramStart = ram.lowerBound.rawValue
    self.ramSize = ram.upperBound.rawValue &- ram.lowerBound.rawValue
    self.cache =
      cachedTables > 0 ? ZeroTableCache(physicalMemory, capacity: cachedTables) : nil
  }

  /// Frees every cached table page (they are otherwise freed when the cache is
  /// full and when the last copy of this memory goes away).
  public func drainTableCache() {
    cache?.drain()
  }

  /// The buddy order that holds `byteCount` bytes (tables smaller than a page take
  /// a whole page).
  @inline(__always)
  func order(for byteCount: Int) -> Int {
    var order = 0
    while physicalMemory.pageSize << order < byteCount { order += 1 }
    return order
  }

  public func allocateTable(byteCount: Int) -> UInt64? {
    allocateTable(byteCount: byteCount, zeroed: true)
  }

  /// A table the engine overwrites whole before publishing it: no need to zero it.
  public func allocateTableForOverwrite(byteCount: Int) -> UInt64? {
    allocateTable(byteCount: byteCount, zeroed: false)
  }

  func allocateTable(byteCount: Int, zeroed: Bool) -> UInt64? {
    let order = order(for: byteCount)
    if order == 0, let cache, let cached = cache.pop() {
      // A cached table is zero and its bookkeeping word 0 (both checked when it was
      // cached).
      return cached
    }
    var page = allocate(order, zeroed: zeroed)
    if page == nil, let cache, cache.drain() > 0 {
      // Out of pages: give the cached ones back and try once more (only if there
      // were any, so an allocation fails exactly when the page allocator says so).
      page = allocate(order, zeroed: zeroed)
    }
    guard let page else { return nil }
    // SAFETY: the page is allocated and owned here; nobody else uses its private word.
    unsafe page.unsafePrivateWord.pointee.store(0, ordering: .relaxed)
    return page.intoPhysicalAddress().rawValue
  }

  public func freeTable(at physicalAddress: UInt64, byteCount: Int) {
    if let cache, byteCount <= physicalMemory.pageSize {
      // SAFETY: the engine frees a table once, after unlinking it and waiting until
      // no walker can reach it, so the page is allocated and nobody else uses it.
      let isClean = unsafe physicalMemory.withPageUnchecked(
        at: PhysicalAddress(rawValue: physicalAddress)
      ) { page in
        // The engine clears every entry before freeing; check in debug builds.
        assert(isZero(page, byteCount), "PhysicalPageTableMemory: a freed table still has entries")
        unsafe page.unsafePrivateWord.pointee.store(0, ordering: .relaxed)
        return page.order == 0
      }
      if isClean && cache.push(physicalAddress) { return }
    }
    release(physicalAddress, byteCount: byteCount)
  }

  /// Gives a table page back to the page allocator.
  func release(_ physicalAddress: UInt64, byteCount: Int) {
    let address = PhysicalAddress(rawValue: physicalAddress)
    let page = takeBack(address)
    // The engine clears every entry before freeing; check in debug builds.
    assert(isZero(page, byteCount), "PhysicalPageTableMemory: a freed table still has entries")
    unsafe page.unsafePrivateWord.pointee.store(0, ordering: .relaxed)
    _ = consume page
  }

  /// A block of `2^order` pages (zeroed if asked), or nil when memory ran out.
  func allocate(_ order: Int, zeroed: Bool) -> Page? {
    do {
      return try physicalMemory.allocatePages(order: order, zeroed: zeroed)
    } catch {
      return nil
    }
  }

  /// The owned page of a table being freed, taken back from its physical address.
  func takeBack(_ address: PhysicalAddress) -> Page {
    do {
      // SAFETY: the engine frees a table once, after unlinking it and waiting until
      // no walker can reach it, so this is the one owner taking the page back.
      return try unsafe Page(fromPhysicalAddress: address, in: physicalMemory)
    } catch {
      fatalError("PhysicalPageTableMemory: freeing table \(address): \(error)")
    }
  }

  /// Whether the first `byteCount` bytes of `page` are zero (a debug check).
  func isZero(_ page: borrowing Page, _ byteCount: Int) -> Bool {
    page.withBytes { bytes in
      // SAFETY: every offset is inside the table, which lies inside the page's bytes.
      (0..<byteCount / 8).allSatisfy {
        unsafe bytes.unsafeLoad(fromByteOffset: $0 * 8, as: UInt64.self) == 0
      }
    }
  }

  /// A view of the table at `physicalAddress` for `body`.
  ///
  /// The address must be a table allocated here (the engine's contract). Two
  /// compares make this safe API memory-safe whatever it is given: an address whose
  /// `byteCount` bytes are not inside RAM, or not 8-byte aligned, traps naming the
  /// broken invariant instead of making a view outside the direct map.
  @inline(__always)
  public func withTable<R>(at physicalAddress: UInt64, byteCount: Int, _ body: (TableView) -> R)
    -> R
  {
    let offset = physicalAddress &- ramStart
    if physicalAddress & 7 != 0 || offset >= ramSize || byteCount < 0
      || UInt64(byteCount) > ramSize &- offset
    {
      Self.notATable(physicalAddress, byteCount)
    }
    // SAFETY: the view lies inside the direct map (checked above), which stays
    // mapped while this memory lives; the engine passes only tables it allocated
    // here and has not freed, so the page stays allocated for the call.
    return body(unsafe unsafeTable(at: physicalAddress, byteCount: byteCount))
  }

  @inline(never)
  static func notATable(_ physicalAddress: UInt64, _ byteCount: Int) -> Never {
    fatalError(
      "PhysicalPageTableMemory.withTable: \(byteCount) bytes at 0x\(String(physicalAddress, radix: 16)) are not a table in RAM"
    )
  }

  @unsafe @inlinable @inline(__always)
  public func unsafeTable(at physicalAddress: UInt64, byteCount: Int) -> TableView {
    let address = PhysicalAddress(rawValue: physicalAddress)
    // SAFETY: the engine passes only addresses of tables it allocated here (the first
    // page of an allocated block) and uses the view while the block stays allocated.
    // The block spans at least byteCount bytes in the direct map, and its descriptor's
    // private word is this table's bookkeeping word; all access goes through the
    // view's atomics.
    return unsafe TableView(
      entries: physicalMemory.unsafeDirectMapAddress(uncheckedAt: address), count: byteCount / 8,
      bookkeeping: UnsafeMutableRawPointer(
        physicalMemory.unsafePrivateWord(uncheckedAt: address)))
  }
}

extension PageTable where Memory == PhysicalPageTableMemory {
  /// A page table whose tables are pages of `physicalMemory`.
  public convenience init(
    format: Format, physicalMemory: PhysicalMemory, options: PageTableOptions = PageTableOptions()
  ) throws(PageTableError) {
    try self.init(format: format, memory: PhysicalPageTableMemory(physicalMemory), options: options)
  }
}

/// A bounded stack of freed one-page tables, all zero and still handed out, for
/// ``PhysicalPageTableMemory``'s cached zero tables. Drained when it goes away.
final class ZeroTableCache: Sendable {
  let physicalMemory: PhysicalMemory
  let capacity: Int
  let addresses: Mutex<[UInt64]>

  init(_ physicalMemory: PhysicalMemory, capacity: Int) {
    self.physicalMemory = physicalMemory
    self.capacity = capacity
    var addresses: [UInt64] = []
    addresses.reserveCapacity(capacity)
    self.addresses = Mutex(addresses)
  }

  /// A cached table's physical address, or nil when the cache is empty.
  func pop() -> UInt64? {
    addresses.withAnnotatedLock { $0.popLast() }
  }

  /// Caches a zeroed table; false (and nothing changed) when the cache is full.
  func push(_ address: UInt64) -> Bool {
    addresses.withAnnotatedLock { addresses in
      guard addresses.count < capacity else { return false }
      addresses.append(address)
      return true
    }
  }

  /// Gives every cached table back to the page allocator; returns how many.
  @discardableResult
  func drain() -> Int {
    let drained = addresses.withAnnotatedLock { addresses in
      let all = addresses
      addresses.removeAll(keepingCapacity: true)
      return all
    }
    let memory = PhysicalPageTableMemory(physicalMemory)
    for address in drained { memory.release(address, byteCount: physicalMemory.pageSize) }
    return drained.count
  }

  deinit {
    drain()
  }
}
