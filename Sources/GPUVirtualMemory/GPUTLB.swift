/// The GPU's TLB maintenance, as a driver issues it: by ASID and range after a
/// bind changed mappings, and for a whole ASID when a VM enters or leaves a
/// context slot (Asahi's `tlbi_range` and `tlbi_asid`; Panthor's `AS_COMMAND`
/// flush).
///
/// ```swift
/// final class PrintingTLB: GPUTLB {
///   func invalidate(asid: Int, start: UInt64, size: UInt64, granule: UInt64,
///                   leafOnly: Bool) { print("tlbi asid \(asid) …") }
///   func invalidateASID(_ asid: Int) { print("tlbi asid \(asid)") }
/// }
/// ```
public protocol GPUTLB: AnyObject {
  /// Invalidates translations of `asid` overlapping `[start, start + size)`; leaves
  /// are at least `granule` bytes; `leafOnly` is false when tables were unlinked.
  func invalidate(asid: Int, start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool)
  /// Invalidates every translation tagged with `asid`.
  func invalidateASID(_ asid: Int)
}

/// A TLB for tests and the demo: records every invalidation in order.
public final class RecordingGPUTLB: GPUTLB {
  /// One invalidation.
  public enum Command: Hashable, Sendable, CustomStringConvertible {
    /// By ASID and range.
    case range(asid: Int, start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool)
    /// A whole ASID.
    case asid(Int)

    /// `tlbi asid 3 [0x…, +0x…)` or `tlbi asid 3 (all)`.
    public var description: String {
      switch self {
      case .range(let asid, let start, let size, _, let leafOnly):
        "tlbi asid \(asid) [0x\(hex(start)), +0x\(hex(size)))" + (leafOnly ? "" : " + walk caches")
      case .asid(let asid): "tlbi asid \(asid) (all)"
      }
    }
  }
  /// The invalidations issued, oldest first.
  public var commands: [Command] = []

  /// An empty record.
  public init() {}

  /// Records a range invalidation.
  public func invalidate(
    asid: Int, start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool
  ) {
    commands.append(
      .range(asid: asid, start: start, size: size, granule: granule, leafOnly: leafOnly))
  }

  /// Records an ASID-wide invalidation.
  public func invalidateASID(_ asid: Int) { commands.append(.asid(asid)) }
}
