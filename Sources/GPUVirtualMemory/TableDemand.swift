import PageTables

/// The most tables, per level, that a bind's page-table work can need: the worst
/// case prepare reserves so that commit never allocates.
///
/// ```swift
/// var demand = TableDemand(levels: format.geometry.levels)
/// demand.addMap(virtualAddress: 0x10_0000, physicalAddress: 0x8010_0000, size: 0x4000)
/// demand.addUnmapEdges(2)
/// ```
///
/// - A map of `[va, va + size)` onto a contiguous physical range needs a table at
///   level `L` under each level-`L - 1` entry it touches; where that level takes
///   leaves and VA and PA agree modulo its leaf size, only the entries it covers
///   partly (at most the two ends) need one, the others become blocks.
/// - An unmap boundary inside a block splits it into the next size down, and so
///   on, so each boundary may need one table per level below the first level that
///   takes leaves.
public struct TableDemand: Sendable {
  /// The format's levels.
  public let levels: [LevelGeometry]
  /// Tables needed at each level (index 0, the root, is always 0).
  public private(set) var counts: [Int]

  /// No tables needed yet.
  public init(levels: [LevelGeometry]) {
    self.levels = levels
    self.counts = Array(repeating: 0, count: levels.count)
  }

  /// Adds the tables a map of one physically contiguous range may create.
  public mutating func addMap(virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64) {
    let end = virtualAddress + size
    for level in 1..<levels.count {
      let parent = levels[level - 1]
      let span = Int(
        ((end - 1) >> UInt64(parent.shift)) - (virtualAddress >> UInt64(parent.shift)) + 1)
      let leaf = parent.leafSize
      if parent.allowsLeaf && (virtualAddress &- physicalAddress) % leaf == 0 {
        let partial = (virtualAddress % leaf != 0 ? 1 : 0) + (end % leaf != 0 ? 1 : 0)
        counts[level] += min(span, partial)
      } else {
        counts[level] += span
      }
    }
  }

  /// Adds the tables for a map of `[virtualAddress, + size)` whose physical layout
  /// is unknown or fragmented: one under every entry it touches.
  public mutating func addMapAnyLayout(virtualAddress: UInt64, size: UInt64) {
    let end = virtualAddress + size
    for level in 1..<levels.count {
      let shift = UInt64(levels[level - 1].shift)
      counts[level] += Int(((end - 1) >> shift) - (virtualAddress >> shift) + 1)
    }
  }

  /// Adds the tables that splitting blocks at `boundaries` unmap edges may need.
  public mutating func addUnmapEdges(_ boundaries: Int) {
    var belowABlockLevel = false
    for level in 0..<levels.count {
      if belowABlockLevel { counts[level] += boundaries }
      if levels[level].allowsLeaf && level < levels.count - 1 { belowABlockLevel = true }
    }
  }

  /// Caps each level at what `[virtualAddress, + size)` can hold at most.
  public mutating func cap(virtualAddress: UInt64, size: UInt64, from before: TableDemand) {
    var whole = TableDemand(levels: levels)
    whole.addMapAnyLayout(virtualAddress: virtualAddress, size: size)
    for level in counts.indices {
      counts[level] = min(counts[level], before.counts[level] + whole.counts[level])
    }
  }
}
