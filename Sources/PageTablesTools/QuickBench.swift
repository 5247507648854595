import PageTables

/// `pgtable bench`: a quick throughput report per format on this machine — map,
/// translate and unmap of single 4 KiB pages, and map of a 1 GiB range — on
/// tables in an `ImageTableMemory`.
///
/// ```swift
/// let report = try QuickBench.run(pages: 16_384) { print($0) }
/// report.rows.count        // one per format
/// ```
///
/// A quick look, not a measurement to compare across machines (the ordo-one
/// benchmarks in `Benchmarks/` are those): wall-clock time of one pass each.
public enum QuickBench {
  /// One format's figures.
  public struct Row: Sendable {
    /// The format.
    public var format: String
    /// Nanoseconds per single-page map.
    public var mapNanoseconds: Double
    /// Nanoseconds per translate of a mapped page.
    public var translateNanoseconds: Double
    /// Nanoseconds per single-page unmap (a TLB gather per page, flushed each time).
    public var unmapNanoseconds: Double
    /// Nanoseconds to map a whole 1 GiB range (largest leaves), then unmap it.
    public var rangeNanoseconds: Double

    /// Single-page maps per second.
    public var mapsPerSecond: Double { 1e9 / mapNanoseconds }
  }

  /// The report.
  public struct Report: Sendable {
    /// Single pages mapped per format.
    public var pages: Int
    /// One row per format, in the order they ran.
    public var rows: [Row]

    /// The report as aligned text.
    public var lines: [String] {
      func cell(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
      }
      func ns(_ value: Double) -> String { "\(Int(value.rounded())) ns" }
      var lines = [
        "\(pages) single 4 KiB pages per format; one pass, wall clock (a shared machine varies)",
        cell("FORMAT", 22) + cell("MAP", 10) + cell("TRANSLATE", 11) + cell("UNMAP", 10)
          + cell("MAPS/S", 12) + "1 GiB MAP+UNMAP",
      ]
      for row in rows {
        lines.append(
          cell(row.format, 22) + cell(ns(row.mapNanoseconds), 10)
            + cell(ns(row.translateNanoseconds), 11) + cell(ns(row.unmapNanoseconds), 10)
            + cell("\(Int(row.mapsPerSecond.rounded()))", 12) + ns(row.rangeNanoseconds))
      }
      return lines
    }
  }

  /// A TLB that does nothing: the figures are the table work alone.
  struct NoTLB: TLBInvalidator {
    mutating func invalidateAll() {}
    mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
  }

  /// Runs every format, reporting each row through `progress` as it finishes.
  ///
  /// - Parameters:
  ///   - pages: single 4 KiB pages to map, translate and unmap per format.
  ///   - progress: receives one line per format as it finishes.
  /// - Throws: `PageTableError` or `ImageTableMemoryError` if a table cannot be
  ///   made or mapped (a bug).
  public static func run(pages: Int = 16_384, progress: (String) -> Void = { _ in }) throws
    -> Report
  {
    var rows: [Row] = []
    func add<Format: PageTableFormat>(_ name: String, _ format: Format, base: UInt64) throws {
      let row = try measure(name, format, pages: max(pages, 1), base: base)
      progress("\(name): \(Int(row.mapsPerSecond.rounded())) maps/s")
      rows.append(row)
    }
    try add("ARM64 4K 48-bit", ARM64Format(granule: .k4, inputBits: 48), base: 0)
    try add("ARM64 16K 47-bit", ARM64Format(granule: .k16, inputBits: 47), base: 0)
    try add("ARM64 64K 48-bit", ARM64Format(granule: .k64, inputBits: 48), base: 0)
    try add("x86-64 4-level", X86_64Format(levels: 4), base: 0)
    try add("x86-64 5-level", X86_64Format(levels: 5), base: 0)
    try add("RISC-V Sv39", RISCVFormat(.sv39), base: 0)
    try add("RISC-V Sv48", RISCVFormat(.sv48), base: 0)
    try add("Apple UAT", AppleUATFormat(), base: 1 << 36)
    try add(
      "Apple DART 16K", AppleDARTFormat(version: .dart2, granule: .k16, inputBits: 36), base: 0)
    return Report(pages: pages, rows: rows)
  }

  static func elapsed(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let duration = clock.now - start
    return Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
  }

  static func measure<Format: PageTableFormat>(
    _ name: String, _ format: Format, pages: Int, base: UInt64
  ) throws -> Row {
    let memory = try ImageTableMemory(base: 1 << 32, byteCount: 64 << 20)
    let table = try PageTable(format: format, memory: memory)
    let granule = format.geometry.granule
    let start = base &+ 1 << 30
    let protection = Protection.readWrite
    let map = try elapsed {
      for i in 0..<UInt64(pages) {
        try table.map(
          virtualAddress: start + i * granule, physicalAddress: 1 << 33 + i * granule,
          size: granule,
          protection: protection)
      }
    }
    var found = 0
    let translate = elapsed {
      for i in 0..<UInt64(pages) where table.translate(start + i * granule) != nil { found += 1 }
    }
    precondition(found == pages, "QuickBench: every mapped page translates")
    let unmap = try elapsed {
      for i in 0..<UInt64(pages) {
        var gather = TLBGather(invalidator: NoTLB())
        try table.unmap(virtualAddress: start + i * granule, size: granule, gather: &gather)
        table.flush(&gather)
      }
    }
    let range = try elapsed {
      try table.map(
        virtualAddress: start, physicalAddress: 1 << 33, size: 1 << 30, protection: protection)
      var gather = TLBGather(invalidator: NoTLB())
      try table.unmap(virtualAddress: start, size: 1 << 30, gather: &gather)
      table.flush(&gather)
    }
    let count = Double(pages)
    return Row(
      format: name, mapNanoseconds: map / count, translateNanoseconds: translate / count,
      unmapNanoseconds: unmap / count, rangeNanoseconds: range)
  }
}
