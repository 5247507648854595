/// Which state a rewritten RISC-V leaf keeps.
///
/// Source: RISC-V privileged spec, "Sv39" PTE format: A [6] and D [7] (set by a
/// Svadu hart, or by software on a Svade fault); RSW [9:8] is not state (it comes
/// from ``Protection/softwareBits``). Live changes follow ``LiveEntryRule/replaceThenInvalidate``:
/// a PTE change becomes visible after `SFENCE.VMA` ("Supervisor Memory-Management
/// Fence Instruction"); a split block's table translates exactly as the block did,
/// so a hart that still holds the old entry translates correctly until the fence.
extension RISCVFormat {
  /// Keeps A and D once set (a leaf the hardware wrote stays dirty, even one made
  /// read-only).
  public func carryingState(of old: UInt64, level oldLevel: Int, into new: UInt64, level: Int)
    -> UInt64
  {
    new | (old & (Self.accessed | Self.dirty))
  }
}
