import PageTables

/// Helpers for the x86-64 and RISC-V tests: find a leaf's slot in an image the way
/// the hardware walks it, and change its bits the way the hardware would.
enum CPUFormatTesting {
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
    table.memory.withTable(at: slot.table, byteCount: 4096) { view in
      view.store(slot.index, view.load(slot.index) | bits)
    }
    return true
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
