import Synchronization

/// How the engine's operations reach a table's tree: shared with other threads, or
/// owned by one ``ExclusivePageTable``.
///
/// Shared access is the concurrent protocol ``PageTable`` documents: every
/// operation announces itself to reclamation, reserves entries and installs
/// tables with compare-and-swap, and marks an emptied table dead with
/// compare-and-swap before unlinking it. Exclusive access is what an
/// ``ExclusivePageTable`` proves: it holds the only reference to the table, so no
/// other operation can be in flight and those steps become plain loads and stores
/// (release stores where the hardware walker must see a table's contents before
/// the entry that points at it). Replacing a live leaf (a split, a run broken, a
/// protect) keeps its compare-and-swap in both modes: the hardware may set an
/// accessed or dirty bit in it at any time.
@usableFromInline
enum TableAccess: Sendable {
  /// Any number of threads may operate on disjoint ranges.
  case shared
  /// One owner, proven by the type system (``ExclusivePageTable``).
  case exclusive
}

extension PageTable {
  /// Whether an ``ExclusivePageTable`` owns this table.
  @usableFromInline @inline(__always)
  var isExclusive: Bool {
    // SAFETY: `access` changes only while the table is uniquely referenced (by an
    // ExclusivePageTable's init or shared()), never while an operation reads it.
    unsafe access == .exclusive
  }

  /// Writes the table entry `desired` into slot `index` of `view`, which held
  /// `expected` (an empty entry the caller reserved); returns whether it did and
  /// what the slot held. Shared: compare-and-swap, a racing mapper may win.
  /// Exclusive: a release store (the hardware walker must see the new table's
  /// entries before the entry that points at it).
  @usableFromInline @inline(__always)
  func publish(_ view: TableView, _ index: Int, expected: UInt64, desired: UInt64) -> (
    exchanged: Bool, original: UInt64
  ) {
    if isExclusive {
      view.storeReleasing(index, desired)
      return (true, expected)
    }
    return view.compareExchange(index, expected: expected, desired: desired)
  }

  /// Takes `count` from `view`'s live-entry count (reservations not used, or
  /// entries cleared); returns the new count.
  @usableFromInline @inline(__always)
  func releaseEntries(_ view: TableView, _ count: UInt64) -> UInt64 {
    if isExclusive {
      let word = view.exclusiveWord &- count
      view.setExclusiveWord(word)
      return word
    }
    return view.subtractFromWord(count)
  }

  /// Marks the table `view`, whose live-entry count reached zero, dead before it is
  /// unlinked; false if a mapper reserved an entry in it first (shared access only).
  @usableFromInline @inline(__always)
  func claimEmptyTable(_ view: TableView) -> Bool {
    if isExclusive {
      guard view.exclusiveWord == 0 else { return false }
      view.setExclusiveWord(deadTableBit)
      return true
    }
    return view.exchangeWord(expected: 0, desired: deadTableBit).exchanged
  }
}

extension TableView {
  /// The bookkeeping word, read with a plain (relaxed) load: for a table no other
  /// thread can reach (exclusive access).
  @usableFromInline @inline(__always)
  var exclusiveWord: UInt64 { unsafe bookkeeping.pointee.load(ordering: .relaxed) }

  /// Sets the bookkeeping word with a plain (relaxed) store: for a table no other
  /// thread can reach (exclusive access).
  @usableFromInline @inline(__always)
  func setExclusiveWord(_ value: UInt64) {
    unsafe bookkeeping.pointee.store(value, ordering: .relaxed)
  }
}
