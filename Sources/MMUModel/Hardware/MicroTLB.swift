/// The micro-TLBs in front of the TLB: per access kind, a small direct-mapped cache
/// of the translations last used (as cores keep instruction and data micro-TLBs),
/// holding what a hit needs worked out when the line was filled: the physical
/// address of its smallest page, the rights of each privilege, and, for the
/// checker, where the leaf is and the raw entry a hit compares with memory.
///
/// Each line is a copy of part of one TLB entry (its `slot`, filled at event
/// `cachedAt`): a hit also needs the slot to hold that fill still (a refill of the
/// slot has another event number), and the ``TLB`` empties every line when it drops
/// entries, so a line never outlives its entry.
@usableFromInline
struct MicroTLB {
  /// One cached translation of one smallest page.
  @usableFromInline
  struct Line {
    /// The virtual address >> `pageShift`; `~0` when empty.
    @usableFromInline var tag: UInt64 = ~0
    /// The address space the translation was used in.
    @usableFromInline var space = -1
    /// The TLB slot the translation comes from, and the event its entry was filled at.
    @usableFromInline var slot = 0
    @usableFromInline var cachedAt: UInt64 = 0
    /// The physical address of the page's first byte.
    @usableFromInline var physical: UInt64 = 0
    /// Whether the line's access kind is allowed to the privileged agent, and to the user.
    @usableFromInline var allowsPrivileged = false
    @usableFromInline var allowsUser = false
    /// Where the leaf translating the page is (its table, the table's size and the
    /// index), and the raw entry a checked hit expects there.
    @usableFromInline var table: UInt64 = 0
    @usableFromInline var tableBytes = 0
    @usableFromInline var index = 0
    @usableFromInline var expected: UInt64 = 0
  }

  /// Lines per access kind (a power of two).
  @usableFromInline static let linesPerKind = 64
  @usableFromInline var lines = Array(repeating: Line(), count: 3 * MicroTLB.linesPerKind)
  /// log2 of the smallest TLB entry (the granule lines are tagged by).
  @usableFromInline let pageShift: Int

  init(pageShift: Int) {
    self.pageShift = pageShift
  }

  /// The line `address`'s page would use for an access of `kind`.
  @inlinable @inline(__always)
  func position(_ tag: UInt64, _ kind: AccessKind) -> Int {
    let bank: Int
    switch kind {
    case .read: bank = 0
    case .write: bank = 1
    case .execute: bank = 2
    }
    return bank &* Self.linesPerKind &+ Int(truncatingIfNeeded: tag) & (Self.linesPerKind &- 1)
  }

  /// Empties every line.
  mutating func clear() {
    for line in lines.indices { lines[line].tag = ~0 }
  }
}
