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
  /// Tables per level, inline (a geometry has at most 6 levels), so that working
  /// out a bind's demand allocates nothing.
  var perLevel = InlineArray<6, Int>(repeating: 0)

  /// No tables needed yet.
  public init(levels: [LevelGeometry]) {
    precondition(levels.count <= 6, "TableDemand: a geometry has at most 6 levels")
    self.levels = levels
  }

  /// Tables needed at each level (index 0, the root, is always 0).
  public var counts: [Int] { (0..<levels.count).map { perLevel[$0] } }

  /// Tables needed at `level`.
  public func count(atLevel level: Int) -> Int { perLevel[level] }

  /// Tables needed over every level.
  public var total: Int {
    var sum = 0
    for level in 0..<levels.count { sum += perLevel[level] }
    return sum
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
        perLevel[level] += min(span, partial)
      } else {
        perLevel[level] += span
      }
    }
  }

  /// Adds the tables for a map of `[virtualAddress, + size)` whose physical layout
  /// is unknown or fragmented: one under every entry it touches.
  public mutating func addMapAnyLayout(virtualAddress: UInt64, size: UInt64) {
    let end = virtualAddress + size
    for level in 1..<levels.count {
      let shift = UInt64(levels[level - 1].shift)
      perLevel[level] += Int(((end - 1) >> shift) - (virtualAddress >> shift) + 1)
    }
  }

  /// Adds the tables that splitting blocks at `boundaries` unmap edges may need.
  public mutating func addUnmapEdges(_ boundaries: Int) {
    var belowABlockLevel = false
    for level in 0..<levels.count {
      if belowABlockLevel { perLevel[level] += boundaries }
      if levels[level].allowsLeaf && level < levels.count - 1 { belowABlockLevel = true }
    }
  }

  /// Caps each level at what `[virtualAddress, + size)` can hold at most.
  public mutating func cap(virtualAddress: UInt64, size: UInt64, from before: TableDemand) {
    var whole = TableDemand(levels: levels)
    whole.addMapAnyLayout(virtualAddress: virtualAddress, size: size)
    for level in 0..<levels.count {
      perLevel[level] = min(perLevel[level], before.perLevel[level] + whole.perLevel[level])
    }
  }
}
