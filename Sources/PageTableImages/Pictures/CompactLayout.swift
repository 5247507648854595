import PageTables

/// What the same mappings would cost in tables when rebuilt with the largest
/// leaves their alignment allows (the engine's own choice), for the occupancy
/// picture's "a more compact layout would save" line.
///
/// ```swift
/// let compact = try CompactLayout.tableBytes(for: result.runs, format: resolved)
/// print(result.tableBytes - compact)      // bytes a rebuild would save
/// ```
public enum CompactLayout {
  /// Bytes of tables the engine needs for `runs` in `format`.
  ///
  /// - Throws: ``ImageError/build(_:)`` if a run cannot be mapped again (a
  ///   protection the format cannot encode, or more than 1 GiB of tables).
  public static func tableBytes(for runs: [DumpRun], format: ResolvedFormat) throws(ImageError)
    -> Int
  {
    try tableBytes(runs, format.format)
  }

  static func tableBytes<Format: PageTableFormat>(_ runs: [DumpRun], _ format: Format)
    throws(ImageError)
    -> Int
  {
    let geometry = format.geometry
    let alignment = UInt64(
      max(geometry.rootTableBytes, geometry.levels.map(\.tableBytes).max() ?? 0))
    do {
      // A small aligned base and the builder's fixed capacity: whole pages, no wrap.
      let memory = try ImageTableMemory(
        base: alignment, byteCount: Int(TableBuilder.maximumCapacity))
      let table = try PageTable(
        format: format, memory: memory,
        options: PageTableOptions(useContiguousRuns: false, leakReporter: { _ in }))
      for run in runs {
        try table.map(
          virtualAddress: run.virtualAddress, physicalAddress: run.physicalAddress, size: run.size,
          protection: run.protection)
      }
      return withExtendedLifetime(table) {
        memory.liveTables > 0 ? tableBytesInUse(memory, geometry) : 0
      }
    } catch {
      throw .build("the mappings cannot be rebuilt for comparison: \(error)")
    }
  }

  /// Bytes of the live tables (roots at the root size, the rest at each level's).
  static func tableBytesInUse(_ memory: ImageTableMemory, _ geometry: Geometry) -> Int {
    // Every non-root table of these formats has the same size.
    let rootBytes = geometry.rootTableBytes * geometry.rootCount
    let other = geometry.levels.count > 1 ? geometry.levels[1].tableBytes : geometry.rootTableBytes
    return rootBytes + (memory.liveTables - geometry.rootCount) * other
  }
}
