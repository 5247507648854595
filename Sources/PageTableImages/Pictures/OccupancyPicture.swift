/// An SVG of the table pages a walk read, as a tree by level: each table a cell
/// filled as far as its entries are used, lines from parent to child, and what
/// the tables cost next to what a compact layout (largest leaves where alignment
/// allows) would need.
///
/// ```swift
/// let picture = OccupancyPicture(result: result, source: source)
/// try Terminal.write(picture.svg(), to: "tables.svg")
/// ```
public struct OccupancyPicture: Sendable {
  /// What the walk found.
  public let result: WalkResult
  /// Where it came from.
  public let source: DumpSource

  /// Makes one from its parts.
  public init(result: WalkResult, source: DumpSource) {
    self.result = result
    self.source = source
  }

  static let cellWidth = 14.0
  static let cellHeight = 40.0
  static let gap = 4.0
  static let left = 20.0
  static let width = 1200
  /// Parent-to-child lines are drawn up to this many tables.
  static let maximumLines = 600

  /// Where each table's cell is: by level, in walk order, wrapping rows.
  public func cells() -> [(x: Double, y: Double)] {
    let perRow = Int((Double(Self.width) - 2 * Self.left) / (Self.cellWidth + Self.gap))
    let levels = (result.tables.map(\.level).max() ?? 0) + 1
    var counts = [Int](repeating: 0, count: levels)
    for table in result.tables { counts[table.level] += 1 }
    var levelTop = [Double](repeating: 0, count: levels)
    var y = 110.0
    for level in 0..<levels {
      levelTop[level] = y
      let rows = max(1, (counts[level] + perRow - 1) / perRow)
      y += Double(rows) * (Self.cellHeight + Self.gap) + 36
    }
    var placed = [Int](repeating: 0, count: levels)
    return result.tables.map { table in
      let index = placed[table.level]
      placed[table.level] += 1
      return (
        Self.left + Double(index % perRow) * (Self.cellWidth + Self.gap),
        levelTop[table.level] + Double(index / perRow) * (Self.cellHeight + Self.gap)
      )
    }
  }

  /// The cost line: bytes of tables now, and what a compact layout needs.
  public func costLine() -> String {
    let now = result.tableBytes
    let base = "\(result.tables.count) tables, \(DumpReport.size(UInt64(now)))"
    guard let format = try? source.format.resolve() else { return base }
    do {
      let compact = try CompactLayout.tableBytes(for: result.runs, format: format)
      let saving = max(0, now - compact)
      return base
        + "; a compact layout (largest leaves alignment allows) needs \(DumpReport.size(UInt64(compact))): saves \(DumpReport.size(UInt64(saving)))"
    } catch {
      return base + "; \(error)"
    }
  }

  /// The picture.
  public func svg() throws(ImageError) -> String {
    let positions = cells()
    let bottom = (positions.map(\.y).max() ?? 110) + Self.cellHeight + 30
    var document = SVGDocument(width: Self.width, height: Int(bottom))
    document.text("Table occupancy: \(DumpReport.heading(source))", x: Self.left, y: 22, size: 14)
    document.text(costLine(), x: Self.left, y: 44, size: 12)
    document.text(
      "each cell is one table page, filled as far as its entries are used", x: Self.left, y: 62,
      size: 11)
    if result.tables.count <= Self.maximumLines {
      for (index, table) in result.tables.enumerated() {
        guard let parent = table.parent else { continue }
        document.line(
          x1: positions[parent].x + Self.cellWidth / 2, y1: positions[parent].y + Self.cellHeight,
          x2: positions[index].x + Self.cellWidth / 2, y2: positions[index].y, stroke: "#bbbbbb")
      }
    }
    var labelled: Set<Int> = []
    for (index, table) in result.tables.enumerated() {
      let (x, y) = positions[index]
      if !labelled.contains(table.level) {
        labelled.insert(table.level)
        document.text("level \(table.level)", x: Self.left, y: y - 8, size: 11)
      }
      let fraction = Double(table.usedEntries) / Double(max(table.entryCount, 1))
      let title =
        "level-\(table.level) table at \(hex(table.physicalAddress)) for va \(hex(table.virtualAddress)): \(table.usedEntries) of \(table.entryCount) entries used, \(table.byteCount) bytes"
      document.body.append("<g class=\"table\"><title>\(SVGDocument.escape(title))</title>")
      document.rect(
        x: x, y: y, width: Self.cellWidth, height: Self.cellHeight, fill: "#eeeeee",
        stroke: "#666666")
      let filled = Self.cellHeight * fraction
      if filled > 0 {
        document.rect(
          x: x, y: y + Self.cellHeight - filled, width: Self.cellWidth, height: filled,
          fill: fraction >= 0.5 ? "#2e7d32" : fraction >= 0.1 ? "#f9a825" : "#c62828",
          cssClass: "fill")
      }
      document.body.append("</g>")
    }
    return document.rendered()
  }
}
