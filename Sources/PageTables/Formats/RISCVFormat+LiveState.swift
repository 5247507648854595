/// Which state a rewritten RISC-V leaf keeps.
///
/// Source: RISC-V privileged spec, "Sv39" PTE format: A [6] and D [7] (set by a
/// Svadu hart, or by software on a Svade fault), RSW [9:8] reserved for the
/// supervisor's software. Live changes follow ``LiveEntryRule/replaceThenInvalidate``:
/// a PTE change becomes visible after `SFENCE.VMA` ("Supervisor Memory-Management
/// Fence Instruction"); a split block's table translates exactly as the block did,
/// so a hart that still holds the old entry translates correctly until the fence.
extension RISCVFormat {
  /// RSW [9:8].
  @usableFromInline static var softwareBits: UInt64 { 0b11 << 8 }

  /// Keeps A and D (ORed: a leaf the hardware wrote stays dirty, even one made
  /// read-only) and RSW.
  public func carryingState(of old: UInt64, level oldLevel: Int, into new: UInt64, level: Int)
    -> UInt64
  {
    (new & ~Self.softwareBits) | (old & (Self.softwareBits | Self.accessed | Self.dirty))
  }
}
