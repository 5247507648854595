/// The model's copy of one table as it last saw it, and where the table sits.
///
/// The engine writes entries through raw table views, so the model cannot see a
/// write as it happens; it compares table memory with these copies at each of its
/// operations (accesses, invalidations, frees, checks) and judges the differences.
/// Two writes to one entry between two such points are seen as one change, which
/// is exactly what the break-before-make rule needs: an invalidation is such a
/// point, so a valid-invalid-valid sequence without one between looks like a
/// direct valid-valid change.
final class ShadowTable {
  /// The table's level (0 is the root).
  let level: Int
  /// The address space it belongs to.
  let space: Int
  /// The index-space virtual address its entry 0 translates.
  let base: UInt64
  /// The number of entries.
  let count: Int

  // The mutable state is read and written on every told entry write, where the
  // run-time exclusivity checks of class properties would cost more than the rest
  // of the check; the accessors below go without them.
  // SAFETY (every `unsafe` below): the model touches a shadow only under the MMU's
  // lock, and no access escapes an accessor (none is `inout` across another call),
  // so two accesses to one of these properties never overlap.
  @exclusivity(unchecked) private var storedEntries: [UInt64]
  @exclusivity(unchecked) private var storedPendingCount = 0
  @exclusivity(unchecked) private var storedLive = true

  /// The entries as last seen.
  var entries: [UInt64] {
    get { unsafe storedEntries }
    set { unsafe storedEntries = newValue }
  }
  /// How many of the model's pending changes are entries of this table (so a write
  /// to a table with none skips looking for one).
  var pendingCount: Int {
    get { unsafe storedPendingCount }
    set { unsafe storedPendingCount = newValue }
  }
  /// Reachable from a root; false once unlinked (kept until an invalidation covers
  /// the unlink, because walk caches and TLBs may still use it).
  var live: Bool {
    get { unsafe storedLive }
    set { unsafe storedLive = newValue }
  }

  /// The entry at `index` as last seen.
  @inline(__always)
  func entry(_ index: Int) -> UInt64 { unsafe storedEntries[index] }

  /// Records `new` as the entry at `index`.
  @inline(__always)
  func record(_ new: UInt64, at index: Int) { unsafe storedEntries[index] = new }
  /// Where the entry pointing at it lives (the root has none).
  let parentTable: UInt64
  let parentIndex: Int

  init(level: Int, space: Int, base: UInt64, entries: [UInt64], parent: (UInt64, Int)) {
    self.level = level
    self.space = space
    self.base = base
    count = entries.count
    unsafe storedEntries = entries
    self.parentTable = parent.0
    self.parentIndex = parent.1
  }
}

/// An entry change that may still be cached: a valid entry was changed and no
/// invalidation has covered it yet.
struct PendingChange {
  var space: Int
  var table: UInt64
  var index: Int
  var level: Int
  /// The external virtual range the old entry translated (a whole run for a run member).
  var first: UInt64
  var last: UInt64
  /// The entry before the change (what a TLB may hold) and the entry now.
  var old: UInt64
  var current: UInt64
  var changedAt: UInt64
  var oldGlobal: Bool
  /// The old entry pointed at a table (the change needs a non-leaf invalidation).
  var oldIsTable: Bool
  /// The smallest leaf the old entry's subtree held (what the invalidation stride
  /// must meet), for a table entry.
  var smallestLeaf: UInt64
  /// Whether a stale-translation report was made for it already.
  var reported = false
}

/// An entry's place: its table's physical address and its index.
struct SlotKey: Hashable {
  var table: UInt64
  var index: Int
}
