import PageTables

extension HardwareSimulation {
  /// Does what the hardware does on a store through the leaf translating
  /// `virtualAddress`: records dirty state, whatever the format's encoding (x86 and
  /// RISC-V set D, ARM64 DBM clears AP[2] or sets S2AP[1]). Found by trying each
  /// single-bit change that makes the format report the leaf dirty while it stays
  /// the same leaf with the same protection. Returns whether it found one.
  @discardableResult
  static func write<Format: PageTableFormat>(
    _ table: PageTable<Format, ImageTableMemory>, _ virtualAddress: UInt64
  ) -> Bool {
    guard let slot = leafSlot(table, virtualAddress) else { return false }
    let format = table.format
    let entry = entry(table, table: slot.table, index: slot.index)
    if format.isDirty(entry, level: slot.level) { return true }
    for bit in 0..<64 {
      let candidate = entry ^ (1 << UInt64(bit))
      if format.isDirty(candidate, level: slot.level)
        && format.kind(of: candidate, level: slot.level) == .leaf
        && format.protection(of: candidate, level: slot.level)
          == format.protection(of: entry, level: slot.level)
        && format.outputAddress(of: candidate, level: slot.level, virtualAddress: virtualAddress)
          == format.outputAddress(of: entry, level: slot.level, virtualAddress: virtualAddress)
      {
        store(table, slot, candidate)
        return true
      }
    }
    return false
  }
}
