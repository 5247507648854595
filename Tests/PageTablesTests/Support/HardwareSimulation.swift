import PageTables

/// Plays the hardware in tests: finds a leaf's slot in an image the way an MMU walks
/// it, and changes its bits the way the hardware would (accessed/dirty bits, ARM's
/// DBM clearing AP[2]).
enum HardwareSimulation {
  /// Where the leaf translating `virtualAddress` lives: its table's physical
  /// address, its index there and its level; `nil` if nothing maps it.
  static func leafSlot<Format: PageTableFormat>(
    _ table: PageTable<Format, ImageTableMemory>, _ virtualAddress: UInt64
  ) -> (table: UInt64, index: Int, level: Int)? {
    let geometry = table.format.geometry
    let indexAddress = virtualAddress & ((1 << UInt64(geometry.rootCoverageBits)) - 1)
    var tableAddress = table.rootAddress()
    for (level, shape) in geometry.levels.enumerated() {
      let index = Int((indexAddress >> UInt64(shape.shift)) & UInt64(shape.entryCount - 1))
      guard let entry = table.memory.readWord(at: tableAddress + UInt64(index) * 8) else {
        return nil
      }
      switch table.format.kind(of: entry, level: level) {
      case .empty: return nil
      case .leaf: return (tableAddress, index, level)
      case .table: tableAddress = table.format.tableAddress(of: entry, level: level)
      }
    }
    return nil
  }

  /// The raw entry at `index` of the table at `tableAddress`.
  static func entry<Format: PageTableFormat>(
    _ table: PageTable<Format, ImageTableMemory>, table tableAddress: UInt64, index: Int
  ) -> UInt64 {
    table.memory.readWord(at: tableAddress + UInt64(index) * 8) ?? 0
  }

  /// Sets `bits` in the leaf translating `virtualAddress`, as the hardware sets A
  /// or D; returns whether there was a leaf.
  @discardableResult
  static func setLeafBits<Format: PageTableFormat>(
    _ table: PageTable<Format, ImageTableMemory>, _ virtualAddress: UInt64, _ bits: UInt64
  ) -> Bool {
    guard let slot = leafSlot(table, virtualAddress) else { return false }
    store(table, slot, entry(table, table: slot.table, index: slot.index) | bits)
    return true
  }

  /// Overwrites the leaf entry in `slot`, as the hardware (or a debugger) would.
  static func store<Format: PageTableFormat>(
    _ table: PageTable<Format, ImageTableMemory>,
    _ slot: (table: UInt64, index: Int, level: Int), _ entry: UInt64
  ) {
    table.memory.withTable(at: slot.table, byteCount: table.level(slot.level).tableBytes) { view in
      view.store(slot.index, entry)
    }
  }

  /// Every dirty range `readAndClearDirty` reports for `[virtualAddress, +size)`.
  static func dirtyRanges<Format: PageTableFormat>(
    _ table: PageTable<Format, ImageTableMemory>, _ virtualAddress: UInt64, _ size: UInt64
  ) throws -> [ClosedRange<UInt64>] {
    var ranges: [ClosedRange<UInt64>] = []
    try table.readAndClearDirty(virtualAddress: virtualAddress, size: size) { start, length in
      ranges.append(start...(start + length - 1))
    }
    return ranges
  }
}
