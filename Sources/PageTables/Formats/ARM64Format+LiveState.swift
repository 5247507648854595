/// How live ARM64 entries are changed, and which state a rewritten leaf keeps.
///
/// Source: Arm ARM (DDI 0487) D8.16.1 "Using break-before-make when updating
/// translation table entries": a valid entry is replaced through an invalid one
/// (and a completed TLB invalidation) when the change alters the output address,
/// the block size (block ↔ table), the Contiguous bit, the memory type or
/// shareability, or nG; FEAT_BBM level 2 relaxes only the block-size case (see
/// ``PageTableOptions/hasBBMLevel2``). Permission changes need no break. D8.5
/// (hardware dirty state): writable-dirty is DBM with AP[2] clear (stage 2:
/// S2AP[1] set); AF (bit 10) is set by the hardware with FEAT_HAFDBS. Software
/// bits [58:55] are not state: they come from ``Protection/softwareBits``.
extension ARM64Format {
  /// The output address, AttrIndx/MemAttr [5:2], SH [9:8], nG [11] and the
  /// Contiguous bit: a change of any of them needs break-before-make.
  @usableFromInline var breakSensitiveBits: UInt64 {
    addressField | 0b1111 << 2 | 0b11 << 8 | 1 << 11 | Self.contiguous
  }
  /// Break-before-make: see ``LiveEntryRule/breakBeforeMake``.
  public var liveEntryRule: LiveEntryRule { .breakBeforeMake }

  /// True when the output address, memory attributes, shareability or nG change,
  /// or either leaf is a member of a contiguous run (all members must agree, so a
  /// run is rewritten through invalid entries).
  public func replacementNeedsBreak(_ old: UInt64, _ new: UInt64, level: Int) -> Bool {
    (old ^ new) & breakSensitiveBits != 0 || (old | new) & Self.contiguous != 0
  }

  /// Keeps AF (once set) and writable-dirty where the new leaf is still writable
  /// under DBM (a leaf made read-only cannot record dirty state).
  public func carryingState(of old: UInt64, level oldLevel: Int, into new: UInt64, level: Int)
    -> UInt64
  {
    var entry = new | (old & Self.accessFlag)
    if isDirty(old, level: oldLevel) && entry & Self.dirtyBitModifier != 0 {
      switch stage {
      case .one: entry &= ~Self.accessReadOnly
      case .two: entry |= Self.stage2Write
      }
    }
    return entry
  }
}
