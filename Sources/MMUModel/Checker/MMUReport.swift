/// A finding of the checker: which rule a driver broke, where, and how.
///
/// ```swift
/// let mmu = try MMU(format: format, memory: image)
/// // … the driver under test maps, unmaps, invalidates, frees …
/// #expect(mmu.reports.isEmpty)  // a correct driver
/// ```
///
/// A driver that breaks a rule finds it there:
///
/// ```swift
/// // … the driver rewrites a live leaf's output address without breaking it first …
/// #expect(mmu.reports.first?.rule == .breakBeforeMake)
/// ```
///
/// Event numbers (``at``, ``cachedAt``, ``changedAt``) count the model's operations
/// (accesses, invalidations, frees, checks), so a report says in which order the
/// translation was cached, the entry changed and the rule was broken.
public struct MMUReport: Hashable, Sendable, CustomStringConvertible {
  /// The rules the checker enforces.
  public enum Rule: String, Hashable, Sendable, CaseIterable {
    /// A translation the TLB or a walk cache holds (or may hold: it was valid since
    /// the last invalidation covering it) no longer matches the tables.
    case staleTranslation
    /// A table page was freed while a live entry, a walk cache, or an unlinked but
    /// not yet invalidated entry still referenced it.
    case tableFreedWhileReachable
    /// A table page was handed out again while a translation could still walk it.
    case tableReusedWhileWalkable
    /// A data page was freed while a leaf entry or a TLB entry still mapped it.
    case mappedPageFreed
    /// A live valid entry was changed to another output address, size or kind
    /// (or memory type, global bit, contiguity) without an invalid entry and an
    /// invalidation in between (Arm ARM DDI 0487, "Using break-before-make when
    /// updating translation table entries").
    case breakBeforeMake
  }

  /// What the driver (or the hardware) was doing when the rule was found broken.
  public enum Operation: Hashable, Sendable, CustomStringConvertible {
    /// An access translated by the model.
    case access(AccessKind, Privilege)
    /// A TLB maintenance command.
    case invalidation(TLBInvalidation)
    /// Entries written in table memory, seen when the model looked at it.
    case entryWrite
    /// Pages freed.
    case pageFreed(physicalAddress: UInt64, byteCount: UInt64)
    /// A table allocated.
    case tableAllocated(physicalAddress: UInt64)
    /// An explicit check that every change was invalidated (``MMU/checkQuiescent()``).
    case quiescenceCheck

    public var description: String {
      switch self {
      case .access(let kind, let privilege): "\(privilege) \(kind)"
      case .invalidation(let command): "invalidation \(command)"
      case .entryWrite: "entry write"
      case .pageFreed(let address, let count): "free of \(hex(address))+\(hex(count))"
      case .tableAllocated(let address): "table allocation at \(hex(address))"
      case .quiescenceCheck: "quiescence check"
      }
    }
  }

  /// The rule broken.
  public var rule: Rule
  /// The address space concerned.
  public var addressSpace: AddressSpace
  /// The first virtual address of the translation concerned.
  public var virtualAddress: UInt64
  /// The level of the entry concerned.
  public var level: Int
  /// The entry concerned as the hardware may still use it (cached or previous).
  public var entry: UInt64
  /// What the tables hold in its place now.
  public var currentEntry: UInt64
  /// The physical address of the table holding the entry, and its index there.
  public var table: UInt64
  /// The entry's index in ``table``.
  public var index: Int
  /// What was being done when the rule was found broken.
  public var operation: Operation
  /// The event when the report was made.
  public var at: UInt64
  /// The event when the TLB or walk cache filled the translation, if it did.
  public var cachedAt: UInt64?
  /// The event when the model saw the change that broke the rule, if one did.
  public var changedAt: UInt64?
  /// The physical address concerned (the freed or reused page), if any.
  public var physicalAddress: UInt64?
  /// A sentence saying what happened.
  public var detail: String

  public var description: String {
    var text = "\(rule) in \(addressSpace) at \(hex(virtualAddress)) (level \(level), table "
    text += "\(hex(table))[\(index)], entry \(hex(entry)) now \(hex(currentEntry))) on \(operation)"
    text += ", event \(at)"
    if let cachedAt { text += ", cached at event \(cachedAt)" }
    if let changedAt { text += ", changed at event \(changedAt)" }
    if let physicalAddress { text += ", page \(hex(physicalAddress))" }
    return text + ": " + detail
  }
}

/// `0x` and lowercase hexadecimal digits.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
