/// One level's geometry as the hot paths use it: every derived value precomputed
/// once when the table is made, so a walk step is loads and shifts, not getters.
@usableFromInline
struct LevelPlan {
  /// The lowest virtual-address bit of the level's index.
  @usableFromInline var shift: UInt64
  /// Bytes mapped by one entry (`1 << shift`).
  @usableFromInline var leafSize: UInt64
  /// Entries in one table of the level.
  @usableFromInline var entryCount: Int
  /// Bytes of one table of the level.
  @usableFromInline var tableBytes: Int
  /// Bytes of virtual address space one table covers; 0 for 2^64.
  @usableFromInline var coverage: UInt64
  /// Whether an entry of the level may be a leaf.
  @usableFromInline var allowsLeaf: Bool
  /// Entries in one contiguous run (1 where the format has none).
  @usableFromInline var contiguousRun: Int
  /// Whether a level below exists.
  @usableFromInline var hasChild: Bool
  /// Bytes of one table of the next level (0 at the last level).
  @usableFromInline var childTableBytes: Int
  /// Bytes mapped by one entry of the next level (0 at the last level).
  @usableFromInline var childLeafSize: UInt64

  @usableFromInline
  init(_ geometry: LevelGeometry, child: LevelGeometry?) {
    shift = UInt64(geometry.shift)
    leafSize = geometry.leafSize
    entryCount = geometry.entryCount
    tableBytes = geometry.tableBytes
    coverage = geometry.coverage
    allowsLeaf = geometry.allowsLeaf
    contiguousRun = geometry.contiguousRun
    hasChild = child != nil
    childTableBytes = child?.tableBytes ?? 0
    childLeafSize = child?.leafSize ?? 0
  }

  /// The end (exclusive) of the range a table of this level based at `base`
  /// covers, or `~0` if that is 2^64.
  @inlinable @inline(__always)
  func tableEnd(base: UInt64) -> UInt64 {
    coverage == 0 ? ~0 : base &+ coverage
  }
}
