extension PageTable {
  /// Reports every page or block in `[virtualAddress, virtualAddress + size)` that
  /// the hardware wrote since it was last cleaned, and cleans it (it stays mapped and
  /// writable). Linux's `read_and_clear_dirty`.
  ///
  /// A contiguous run is dirty as a whole if any member is (the hardware may record
  /// a write in any member); all its members are cleaned. The caller invalidates the
  /// TLB for the reported ranges before relying on the next round's answer.
  ///
  /// - Parameters:
  ///   - virtualAddress: the start of the range, aligned to the format's page size.
  ///   - size: the range's length in bytes, a multiple of the format's page size.
  ///   - report: called with each dirty leaf's start and size (external virtual
  ///     addresses), in address order.
  /// - Throws: ``PageTableError/dirtyTrackingUnsupported`` for a format without
  ///   hardware dirty state, or the range errors of ``map(virtualAddress:physicalAddress:size:protection:)``.
  public func readAndClearDirty(
    virtualAddress: UInt64, size: UInt64, report: (UInt64, UInt64) -> Void
  ) throws(PageTableError) {
    guard format.tracksDirtyState else { throw .dirtyTrackingUnsupported }
    let start = try locate(virtualAddress, size: size)
    let operation = enterOperation()
    defer { exitOperation(operation) }
    var visitor = DirtyTables()
    walkRange(start: start, end: start &+ size, visitor: &visitor)
    // Clean leaf by leaf, table by table, from the collected leaf tables.
    for table in visitor.tables {
      let geometry = levels[table.level]
      memory.withTable(at: table.address, byteCount: geometry.tableBytes) { view in
        let run = max(1, geometry.contiguousRun)
        var index = 0
        while index < geometry.entryCount {
          let slot = table.base &+ UInt64(index) &* geometry.leafSize
          let members =
            run > 1 && format.isContiguous(view.load(index), level: table.level) ? run : 1
          defer { index &+= members }
          let length = UInt64(members) &* geometry.leafSize
          // `table.base` is an external address, so compare with the external range.
          guard slot &+ (length &- 1) >= virtualAddress, slot <= virtualAddress &+ (size &- 1)
          else { continue }
          var dirty = false
          for k in 0..<members {
            var entry = view.load(index &+ k)
            guard format.kind(of: entry, level: table.level) == .leaf else { continue }
            while format.isDirty(entry, level: table.level) {
              dirty = true
              let result = view.compareExchange(
                index &+ k, expected: entry, desired: format.cleaned(entry, level: table.level))
              if result.exchanged { break }
              entry = result.original
            }
          }
          if dirty { report(slot, length) }
        }
      }
    }
  }
}

/// Collects the tables that hold leaves, for `readAndClearDirty`.
struct DirtyTables: PageTableVisitor {
  struct LeafTable {
    var address: UInt64
    var level: Int
    var base: UInt64
  }
  var tables: [LeafTable] = []
  var stack: [(address: UInt64, level: Int, base: UInt64, hasLeaves: Bool)] = []

  mutating func enterTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64) {
    stack.append((physicalAddress, level, virtualAddress, false))
  }
  mutating func visitLeaf(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int,
    protection: Protection, entry: UInt64
  ) {
    stack[stack.count - 1].hasLeaves = true
  }
  mutating func leaveTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64) {
    let table = stack.removeLast()
    if table.hasLeaves {
      tables.append(LeafTable(address: table.address, level: table.level, base: table.base))
    }
  }
}
