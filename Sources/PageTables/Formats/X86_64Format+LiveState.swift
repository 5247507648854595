/// Which state a rewritten x86-64 leaf keeps.
///
/// Source: Intel SDM vol. 3A, "4-Level Paging and 5-Level Paging" entry tables:
/// A [5] and D [6] are set by the processor (the software bits [11:9] and [58:52]
/// are not state: they come from ``Protection/softwareBits``). Live changes follow ``LiveEntryRule/replaceThenInvalidate``
/// (§4.10.4.2 "Recommended Invalidation": a page-size change is followed by
/// `INVLPG` for the whole old page before the new pages change).
extension X86_64Format {
  /// A and D.
  @usableFromInline static var carriedBits: UInt64 { 1 << 5 | 1 << 6 }

  /// Keeps A and D once the processor set them.
  public func carryingState(of old: UInt64, level oldLevel: Int, into new: UInt64, level: Int)
    -> UInt64
  {
    new | (old & Self.carriedBits)
  }
}
