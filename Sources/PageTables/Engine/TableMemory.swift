import Synchronization

/// The memory that holds a page table's tables.
///
/// The engine asks it for zeroed tables, reaches a table's entries through it by
/// physical address, and gives tables back when they are empty. Conformances:
/// `PhysicalPageTableMemory` (in `PhysicalPageTables`) follows the page layer's
/// lifecycle: allocate a zeroed page, turn it into its physical address, borrow it
/// to edit entries, take it back to free it. ``ImageTableMemory`` is a flat image
/// at a chosen physical base (a boot loader's prebuilt tables, or a bare-metal
/// program's own RAM).
///
/// Besides the entries, each table has one 64-bit bookkeeping word that lives
/// outside the table (for the page layer, in the table page's descriptor): the
/// engine keeps the table's count of live entries there.
public protocol TableMemory: Sendable {
  /// A zeroed table of `byteCount` bytes (a power of two, at least 8), aligned to
  /// `byteCount`, with its bookkeeping word set to 0; `nil` when memory ran out.
  func allocateTable(byteCount: Int) -> UInt64?
  /// Gives back a table obtained from ``allocateTable(byteCount:)``. The engine
  /// frees only tables whose entries are all empty and that no walker can reach.
  func freeTable(at physicalAddress: UInt64, byteCount: Int)
  /// Runs `body` with a view of the table at `physicalAddress`'s entries and
  /// bookkeeping word. The engine only passes addresses of tables it allocated
  /// and has not freed.
  func withTable<R>(at physicalAddress: UInt64, byteCount: Int, _ body: (TableView) -> R) -> R
  /// A view of the table at `physicalAddress`'s entries and bookkeeping word,
  /// without a closure: the engine's walks take one per level.
  ///
  /// - Safety: the engine only passes addresses of tables it allocated and has not
  ///   freed, and uses the view only while the table stays allocated (its
  ///   reclamation scheme frees an unlinked table only after every operation that
  ///   could reach it has finished). A conformance must return a view that stays
  ///   valid for as long as the table stays allocated.
  @unsafe
  func unsafeTable(at physicalAddress: UInt64, byteCount: Int) -> TableView
  /// Like ``allocateTable(byteCount:)``, but the entries may hold anything: the
  /// engine writes every entry before it publishes the table (a map that fills a
  /// whole table skips zeroing it). The bookkeeping word must still be 0. The
  /// default allocates a zeroed table.
  func allocateTableForOverwrite(byteCount: Int) -> UInt64?
  /// Every physical address a table can be given, if the memory knows it (an image
  /// at a fixed base, a machine's RAM); `nil` (the default) if not. A
  /// ``PageTable`` refuses at creation memory whose tables its format cannot point
  /// at; with `nil` it checks each table as it is allocated instead.
  var tableAddressRange: ClosedRange<UInt64>? { get }
}

extension TableMemory {
  public func allocateTableForOverwrite(byteCount: Int) -> UInt64? {
    allocateTable(byteCount: byteCount)
  }
  public var tableAddressRange: ClosedRange<UInt64>? { nil }
}

/// Access to one table's entries and its bookkeeping word, for the engine.
///
/// Entries are read and written with atomic operations, so concurrent walkers on
/// disjoint ranges and the hardware's own updates (accessed and dirty bits) are
/// never torn. Relaxed loads and stores compile to plain moves.
///
/// ## Invariants
/// `entries` points at `count` 8-byte aligned entries and `bookkeeping` at one
/// 8-byte word, both valid for the duration of the `withTable` call that made the
/// view (for a view from `unsafeTable`, while the table stays allocated).
@safe
@frozen
public struct TableView {
  @usableFromInline let entries: UnsafeMutablePointer<Atomic<UInt64>>
  @usableFromInline let bookkeeping: UnsafeMutablePointer<Atomic<UInt64>>
  /// The number of entries.
  public let count: Int

  /// Makes a view of `count` entries at `entries` and the word at `bookkeeping`.
  ///
  /// - Safety: both pointers must be 8-byte aligned, valid for reads and writes of
  ///   `count` entries and one word, and stay so until the view is dropped; nothing
  ///   may access that memory non-atomically meanwhile.
  @unsafe @inlinable
  public init(entries: UnsafeMutableRawPointer, count: Int, bookkeeping: UnsafeMutableRawPointer) {
    unsafe self.entries = entries.bindMemory(to: Atomic<UInt64>.self, capacity: count)
    unsafe self.bookkeeping = bookkeeping.bindMemory(to: Atomic<UInt64>.self, capacity: 1)
    self.count = count
  }

  @usableFromInline @inline(__always)
  func check(_ index: Int) {
    assert(index >= 0 && index < count, "TableView: entry index out of range")
  }

  /// The entry at `index` (relaxed).
  @inlinable @inline(__always)
  public func load(_ index: Int) -> UInt64 {
    check(index)
    // SAFETY: the view's invariant covers entries[0..<count]; index was checked in
    // debug builds and is derived from a masked virtual address in the engine.
    return unsafe entries[index].load(ordering: .relaxed)
  }

  /// The entry at `index`, ordered after the store that published it (acquire).
  @inlinable @inline(__always)
  public func loadAcquiring(_ index: Int) -> UInt64 {
    check(index)
    return unsafe entries[index].load(ordering: .acquiring)
  }

  /// Stores `value` at `index` (relaxed).
  @inlinable @inline(__always)
  public func store(_ index: Int, _ value: UInt64) {
    check(index)
    unsafe entries[index].store(value, ordering: .relaxed)
  }

  /// Stores `value` at `index`, publishing earlier writes (release).
  @inlinable @inline(__always)
  public func storeReleasing(_ index: Int, _ value: UInt64) {
    check(index)
    unsafe entries[index].store(value, ordering: .releasing)
  }

  /// Replaces `expected` with `desired` at `index` if it is still there; returns the
  /// value found (equal to `expected` on success).
  @inlinable @inline(__always)
  public func compareExchange(_ index: Int, expected: UInt64, desired: UInt64) -> (
    exchanged: Bool, original: UInt64
  ) {
    check(index)
    return unsafe entries[index].compareExchange(
      expected: expected, desired: desired, ordering: .acquiringAndReleasing)
  }

  /// Whether the `count` entries from `index` are all empty (0).
  ///
  /// A plain (vectorizable) scan: the engine calls it only on entries of the
  /// caller's own range, which no other operation may change meanwhile.
  @inlinable @inline(__always)
  func areEmpty(from index: Int, count: Int) -> Bool {
    check(index)
    assert(count >= 0 && index + count <= self.count, "TableView: range out of bounds")
    // SAFETY: [index, index + count) lies inside the view's entries (checked in debug
    // builds, derived from the table's geometry in the engine).
    let base = unsafe UnsafeRawPointer(entries) + index &* 8
    var bits: UInt64 = 0
    for k in 0..<count {
      bits |= unsafe base.load(fromByteOffset: k &* 8, as: UInt64.self)
    }
    return bits == 0
  }

  /// Stores `first`, `first + delta`, `first + 2 * delta`, … into the `count`
  /// entries from `index`, with plain (vectorizable) stores: the bulk write of
  /// leaves into empty slots of the caller's own range.
  @inlinable @inline(__always)
  func storeLinear(from index: Int, count: Int, first: UInt64, delta: UInt64) {
    check(index)
    assert(count >= 0 && index + count <= self.count, "TableView: range out of bounds")
    // SAFETY: as in areEmpty(from:count:).
    let base = unsafe UnsafeMutableRawPointer(entries) + index &* 8
    var entry = first
    for k in 0..<count {
      unsafe base.storeBytes(of: entry, toByteOffset: k &* 8, as: UInt64.self)
      entry &+= delta
    }
  }

  /// The bookkeeping word.
  @inlinable @inline(__always)
  public var word: UInt64 { unsafe bookkeeping.pointee.load(ordering: .acquiring) }

  /// Sets the bookkeeping word (only for a table nobody else can see yet).
  @inlinable @inline(__always)
  public func setWord(_ value: UInt64) {
    unsafe bookkeeping.pointee.store(value, ordering: .releasing)
  }

  /// Adds to the bookkeeping word; returns the new value.
  @inlinable @inline(__always)
  public func addToWord(_ delta: UInt64) -> UInt64 {
    unsafe bookkeeping.pointee.wrappingAdd(delta, ordering: .acquiringAndReleasing).newValue
  }

  /// Subtracts from the bookkeeping word; returns the new value.
  @inlinable @inline(__always)
  public func subtractFromWord(_ delta: UInt64) -> UInt64 {
    unsafe bookkeeping.pointee.wrappingSubtract(delta, ordering: .acquiringAndReleasing).newValue
  }

  /// Compare-and-swap on the bookkeeping word.
  @inlinable @inline(__always)
  public func exchangeWord(expected: UInt64, desired: UInt64) -> (exchanged: Bool, original: UInt64)
  {
    unsafe bookkeeping.pointee.compareExchange(
      expected: expected, desired: desired, ordering: .acquiringAndReleasing)
  }
}
