import PageTables

/// An SVG map of a table's mapped runs along the virtual address space: gaps are
/// compressed into break marks and a run's length grows with the logarithm of its
/// size (so a 48-bit space with a 4 KiB page and a 1 GiB block is readable), runs
/// are coloured by protection and shaded by page size (larger pages darker), with
/// a legend and a hover title on every run and gap.
///
/// ```swift
/// let map = AddressSpaceMap(runs: result.runs, title: "boot.img")
/// try Terminal.write(map.svg(), to: "map.svg")
/// map.placements[0]       // where run 0 is drawn, for checking a rendering
/// ```
public struct AddressSpaceMap: Sendable {
  /// Where a run (or part of it, when it wraps) is drawn.
  public struct Placement: Hashable, Sendable {
    /// The index of the run in ``runs``.
    public var run: Int
    /// Left edge, in pixels.
    public var x: Double
    /// Top edge, in pixels.
    public var y: Double
    /// Width, in pixels.
    public var width: Double
    /// Height, in pixels.
    public var height: Double
    /// The fill colour.
    public var color: RGB
  }

  /// The runs drawn, in address order.
  public let runs: [DumpRun]
  /// The heading.
  public let title: String
  /// The picture's width in pixels.
  public let width = 1200
  /// Rectangles, one or more per run.
  public private(set) var placements: [Placement] = []
  /// Where compressed gaps are drawn (x, y) with the bytes they stand for.
  private(set) var breaks: [(x: Double, y: Double, bytes: UInt64)] = []
  /// The picture's height in pixels.
  public private(set) var height = 0

  static let left = 20.0
  static let top = 50.0
  static let rowHeight = 48.0
  static let barHeight = 28.0
  static let breakWidth = 18.0
  static let minimumRunWidth = 3.0

  /// Lays out `runs` (sorted by address here).
  public init(runs: [DumpRun], title: String) {
    self.runs = runs.sorted { $0.virtualAddress < $1.virtualAddress }
    self.title = title
    layout()
  }

  /// The colour of a protection: hue by write and execute, lighter for user.
  public static func color(for protection: Protection) -> RGB {
    let base: RGB =
      switch (protection.write, protection.execute) {
      case (false, false): RGB(0x1F, 0x5F, 0xBF)  // read-only: blue
      case (true, false): RGB(0x1F, 0x9F, 0x4F)  // read-write: green
      case (false, true): RGB(0xD0, 0x6F, 0x10)  // read-execute: orange
      case (true, true): RGB(0xC0, 0x20, 0x30)  // read-write-execute: red
      }
    return protection.user ? base.lightened(0.35) : base
  }

  /// The shade of a page size: the largest pages keep the colour, smaller ones
  /// are lighter.
  static func shade(_ color: RGB, pageSize: UInt64) -> RGB {
    let bits = pageSize.trailingZeroBitCount
    let lightness = bits >= 30 ? 0.0 : bits >= 21 ? 0.2 : bits >= 16 ? 0.35 : 0.5
    return color.lightened(lightness)
  }

  /// The fill of a run.
  public static func fill(for run: DumpRun) -> RGB {
    shade(color(for: run.protection), pageSize: run.pageSize)
  }

  /// A run's drawn length in units: one per doubling above 4 KiB, so a 4 KiB
  /// page and a 1 GiB block are both visible (hover titles give exact sizes).
  static func units(_ size: UInt64) -> Double {
    max(1, Double(64 - size.leadingZeroBitCount) - 12)
  }

  mutating func layout() {
    let usable = Double(width) - 2 * Self.left
    let totalUnits = runs.reduce(0.0) { $0 + Self.units($1.size) }
    // One row when it fits; long pictures wrap rather than shrink runs below a
    // few pixels.
    var gaps = 0.0
    for index in runs.indices.dropFirst()
    where runs[index].virtualAddress != runs[index - 1].virtualAddress &+ runs[index - 1].size {
      gaps += 1
    }
    let room = max(usable - gaps * Self.breakWidth, usable / 4)
    let scale = totalUnits > 0 ? max(room / totalUnits, Self.minimumRunWidth) : 1
    var x = Self.left
    var row = 0
    func place(_ length: Double) -> (Double, Int) {
      if x + length > Self.left + usable && x > Self.left {
        row += 1
        x = Self.left
      }
      let at = x
      x += length
      return (at, row)
    }
    for (index, run) in runs.enumerated() {
      if index > 0 {
        let previous = runs[index - 1]
        let gap = run.virtualAddress &- (previous.virtualAddress &+ previous.size)
        if gap > 0 {
          // Every gap is compressed to a break mark of fixed width.
          let (at, onRow) = place(Self.breakWidth)
          breaks.append((at, Self.top + Double(onRow) * Self.rowHeight, gap))
        }
      }
      var remaining = Self.units(run.size) * scale
      let color = Self.fill(for: run)
      while remaining > 0 {
        if x >= Self.left + usable - 0.5 {
          row += 1
          x = Self.left
        }
        let piece = min(remaining, Self.left + usable - x)
        placements.append(
          Placement(
            run: index, x: x, y: Self.top + Double(row) * Self.rowHeight, width: piece,
            height: Self.barHeight, color: color))
        x += piece
        remaining -= piece
      }
    }
    height = Int(Self.top + Double(row + 1) * Self.rowHeight + legendHeight + 20)
  }

  var legendProtections: [Protection] {
    var seen: [Protection] = []
    for run in runs {
      var key = run.protection
      key.global = false
      key.memoryType = .normal
      key.read = true
      if !seen.contains(key) { seen.append(key) }
    }
    return seen
  }

  var legendSizes: [UInt64] { Array(Set(runs.map(\.pageSize))).sorted(by: >) }

  var legendHeight: Double { 40 + 22 * Double(max(legendProtections.count, legendSizes.count)) }

  /// The picture.
  public func svg() -> String {
    var document = SVGDocument(width: width, height: height)
    document.text(title, x: Self.left, y: 22, size: 14)
    document.text(
      "\(runs.count) runs, \(approximateSize(runs.reduce(0) { $0 &+ $1.size })) mapped; lengths grow with log2 of the size, ≈ marks an unmapped gap",
      x: Self.left, y: 40, size: 11)
    var labelledUpTo: [Double: Double] = [:]
    for placement in placements {
      let run = runs[placement.run]
      let title =
        "\(hex(run.virtualAddress))–\(hex(run.lastVirtualAddress)) → \(hex(run.physicalAddress)), \(DumpReport.size(run.size)) in \(DumpReport.size(run.pageSize)) pages, \(DumpReport.letters(run.protection)) \(run.protection.memoryType)"
      document.rect(
        x: placement.x, y: placement.y, width: placement.width, height: placement.height,
        fill: placement.color.hex, title: title, cssClass: "run")
      // The run's first address under it, where the previous label leaves room.
      let isStart = placements.first { $0.run == placement.run } == placement
      if isStart && placement.x >= labelledUpTo[placement.y, default: 0] {
        let label = hex(run.virtualAddress)
        document.text(label, x: placement.x, y: placement.y + Self.barHeight + 12, size: 9)
        labelledUpTo[placement.y] = placement.x + Double(label.count) * 5.5 + 6
      }
    }
    for mark in breaks {
      document.line(
        x1: mark.x + 5, y1: mark.y, x2: mark.x + Self.breakWidth - 5, y2: mark.y + Self.barHeight,
        stroke: "#888888", dashed: true)
      document.body.append(
        "<g class=\"gap\"><title>\(SVGDocument.escape("unmapped gap of \(DumpReport.size(mark.bytes))"))</title>"
      )
      document.text(
        "≈", x: mark.x + Self.breakWidth / 2, y: mark.y + Self.barHeight / 2 + 4, size: 12,
        anchor: "middle")
      document.body.append("</g>")
    }
    let legendTop = Double(height) - legendHeight
    document.body.append("<g class=\"legend\">")
    document.text("protection", x: Self.left, y: legendTop + 14, size: 12)
    for (index, protection) in legendProtections.enumerated() {
      let y = legendTop + 24 + 22 * Double(index)
      document.rect(
        x: Self.left, y: y, width: 16, height: 16, fill: Self.color(for: protection).hex)
      document.text(
        String(DumpReport.letters(protection).dropLast()), x: Self.left + 22, y: y + 13, size: 11)
    }
    document.text("page size (shade)", x: 300, y: legendTop + 14, size: 12)
    for (index, size) in legendSizes.enumerated() {
      let y = legendTop + 24 + 22 * Double(index)
      document.rect(
        x: 300, y: y, width: 16, height: 16,
        fill: Self.shade(Self.color(for: Protection(write: true)), pageSize: size).hex)
      document.text(DumpReport.size(size), x: 322, y: y + 13, size: 11)
    }
    document.body.append("</g>")
    return document.rendered()
  }
}
