extension TableView {
  /// Copies the run of `run` entries at `index` into the `runs - 1` runs after it,
  /// adding `delta` per run (the same member of the next run maps `delta` further),
  /// with plain (vectorizable) stores: the bulk write of contiguous runs into empty
  /// slots of the caller's own range.
  @inlinable @inline(__always)
  func repeatRuns(from index: Int, runs: Int, run: Int, delta: UInt64) {
    check(index)
    assert(runs >= 1 && index + runs * run <= count, "TableView: runs out of bounds")
    // SAFETY: [index, index + runs * run) lies inside the view's entries (checked in
    // debug builds, derived from the table's geometry in the engine).
    let base = unsafe UnsafeMutableRawPointer(entries) + index &* 8
    var add = delta
    for j in 1..<max(runs, 1) {
      let target = j &* run &* 8
      for k in 0..<run {
        let first = unsafe base.load(fromByteOffset: k &* 8, as: UInt64.self)
        unsafe base.storeBytes(of: first &+ add, toByteOffset: target &+ k &* 8, as: UInt64.self)
      }
      add &+= delta
    }
  }
}
