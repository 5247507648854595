extension PageTable {
  /// Frees every table, the seed's way: each table is walked to free its child
  /// tables first, leaf entries still present are reported as leaked mappings (or
  /// trap, with ``PageTableOptions/trapOnLeakedMappings``) and cleared, and then the
  /// table is given back. No table is ever leaked, whatever was left mapped.
  func tearDown() {
    reclaim(before: .max)
    var leaks = RunCollector()
    for root in 0..<rootCount {
      let base = UInt64(root) << UInt64(rootCoverageBits)
      freeChildren(of: rootTables[root], level: 0, base: base, leaks: &leaks)
      memory.freeTable(at: rootTables[root], byteCount: rootBytes)
    }
    guard !leaks.runs.isEmpty else { return }
    if options.trapOnLeakedMappings {
      let first = leaks.runs[0]
      fatalError(
        "PageTable freed with \(leaks.runs.count) live mapping run(s); first: virtual 0x"
          + hex(first.virtualAddress) + " size 0x" + hex(first.size))
    }
    for run in leaks.runs {
      if let reporter = options.leakReporter {
        reporter(run)
      } else {
        print(
          "PageTable leak: virtual 0x" + hex(run.virtualAddress) + "..0x"
            + hex(run.virtualAddress &+ run.size) + " -> physical 0x" + hex(run.physicalAddress)
            + " still mapped when the table was freed")
      }
    }
  }

  /// Frees the child tables of the table at `address`, recording and clearing leaves.
  func freeChildren(of address: UInt64, level: Int, base: UInt64, leaks: inout RunCollector) {
    let geometry = levels[level]
    memory.withTable(at: address, byteCount: geometry.tableBytes) { view in
      for index in 0..<geometry.entryCount {
        let entry = view.load(index)
        let slot = base &+ (UInt64(index) << UInt64(geometry.shift))
        switch format.kind(of: entry, level: level) {
        case .empty:
          continue
        case .leaf:
          leaks.visitLeaf(
            virtualAddress: externalAddress(slot),
            physicalAddress: format.outputAddress(of: entry, level: level, virtualAddress: slot),
            size: geometry.leafSize, level: level,
            protection: format.protection(of: entry, level: level), entry: entry)
        case .table:
          let child = format.tableAddress(of: entry, level: level)
          freeChildren(of: child, level: level + 1, base: slot, leaks: &leaks)
          memory.freeTable(at: child, byteCount: levels[level + 1].tableBytes)
        }
        view.store(index, 0)
      }
      view.setWord(0)
    }
  }
}

/// Lowercase hexadecimal digits of `value` (no Foundation on bare metal).
func hex(_ value: UInt64) -> String {
  String(value, radix: 16)
}
