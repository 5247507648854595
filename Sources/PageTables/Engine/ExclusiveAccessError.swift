/// Why a ``PageTable`` could not become an ``ExclusivePageTable``.
///
/// ```swift
/// do {
///   var owned = try ExclusivePageTable(consume table)   // the only reference
///   try owned.map(virtualAddress: 0x4000_0000, physicalAddress: 0x8000_0000,
///                 size: 0x1000, protection: .readWrite)
/// } catch ExclusiveAccessError.tableIsShared {
///   // another reference (a thread, a TLBGather holding its tables) still exists
/// }
/// ```
public enum ExclusiveAccessError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Another reference to the table exists: another thread, a scheme wrapping it,
  /// or a ``TLBGather`` still holding tables it unlinked (flush it first). The
  /// reference given up stays with them.
  case tableIsShared

  /// What went wrong, in a sentence.
  public var description: String {
    switch self {
    case .tableIsShared:
      "the page table has other references (threads, schemes, or a TLB gather holding its "
        + "unlinked tables), so exclusive access cannot be proven"
    }
  }
}
