/// A TLB maintenance command, as the hardware offers them (Arm `TLBI`, RISC-V
/// `SFENCE.VMA`, x86 `INVLPG`/`INVPCID`, an IOMMU's invalidation queue).
///
/// ```swift
/// mmu.invalidate(.asidRange(asid: 5, start: 0x20_0000, size: 0x20_0000,
///                           granule: 0x1000, leafOnly: true))
/// ```
///
/// The model follows Arm's semantics: by-ASID commands leave global entries alone;
/// by-VA commands (with or without an ASID) also remove matching global entries;
/// leaf-only commands leave walk caches alone. A range command visits the addresses
/// `start`, `start + granule`, … below `start + size`, and removes every cached
/// entry that holds one of them: a granule larger than an entry can miss it, as
/// real range invalidation with a wrong stride does.
public enum TLBInvalidation: Hashable, Sendable {
  /// Everything cached for the VMID (`TLBI VMALLE1`, `SFENCE.VMA x0, x0`).
  case all
  /// Every non-global entry tagged with `asid` (`TLBI ASIDE1`).
  case asid(UInt16)
  /// Every entry for the range, whatever its ASID (`TLBI VAAE1`, `RVAAE1`).
  case range(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool)
  /// Entries for the range tagged with `asid`, and global ones (`TLBI VAE1`, `VALE1`).
  case asidRange(asid: UInt16, start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool)

  /// Whether the command removes an entry of `[first, last]` tagged (`asid`,
  /// `global`); `isLeaf` is false for walk-cache entries and unlinked tables.
  func covers(first: UInt64, last: UInt64, asid: UInt16, global: Bool, isLeaf: Bool) -> Bool {
    switch self {
    case .all:
      return true
    case .asid(let a):
      return !global && a == asid
    case .range(let start, let size, let granule, let leafOnly):
      return (isLeaf || !leafOnly) && Self.strideHits(start, size, granule, first, last)
    case .asidRange(let a, let start, let size, let granule, let leafOnly):
      return (global || a == asid) && (isLeaf || !leafOnly)
        && Self.strideHits(start, size, granule, first, last)
    }
  }

  /// Whether the command removes every entry cached anywhere in `[first, last]`
  /// down to `smallest`-byte leaves (what removing a table from the tree needs: its
  /// whole range, every leaf under it, and the walk caches).
  func coversTree(first: UInt64, last: UInt64, smallest: UInt64, asid: UInt16) -> Bool {
    switch self {
    case .all:
      return true
    case .asid(let a):
      return a == asid
    case .range(let start, let size, let granule, let leafOnly):
      return !leafOnly && Self.spans(start, size, granule, first, last, smallest)
    case .asidRange(let a, let start, let size, let granule, let leafOnly):
      return a == asid && !leafOnly && Self.spans(start, size, granule, first, last, smallest)
    }
  }

  /// Whether one of `start + k × granule` (below `start + size`) lies in `[first, last]`.
  static func strideHits(
    _ start: UInt64, _ size: UInt64, _ granule: UInt64, _ first: UInt64, _ last: UInt64
  ) -> Bool {
    guard size != 0 else { return false }
    let end = start &+ (size &- 1)  // inclusive; no overflow at the top of the space
    guard first <= end && last >= start else { return false }
    if first <= start { return true }
    let step = max(granule, 1)
    let steps = (first &- start &+ step &- 1) / step
    let (offset, overflow) = steps.multipliedReportingOverflow(by: step)
    guard !overflow else { return false }
    let point = start &+ offset
    return point >= start && point <= last && point <= end
  }

  /// Whether `[start, start + size)` contains `[first, last]` with a stride that
  /// meets every `smallest`-byte leaf.
  static func spans(
    _ start: UInt64, _ size: UInt64, _ granule: UInt64, _ first: UInt64, _ last: UInt64,
    _ smallest: UInt64
  ) -> Bool {
    guard size != 0 else { return false }
    let end = start &+ (size &- 1)
    return start <= first && end >= last && granule <= smallest
  }
}
