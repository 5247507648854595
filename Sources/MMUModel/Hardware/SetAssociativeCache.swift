/// What a ``SetAssociativeCache`` keeps in each way: a TLB entry or a walk-cache
/// entry.
@usableFromInline
protocol CacheLine {
  /// Whether the line holds a translation.
  var valid: Bool { get set }
  /// Replacement stamp: last use (LRU) or fill (FIFO).
  var stamp: UInt64 { get set }
  /// The address space whose walk filled the line.
  var space: Int { get }
  /// Whether `other` caches the same translation under the same tags (a fill of
  /// `other` replaces this line in place).
  func hasSameTag(as other: Self) -> Bool
}

/// A set-associative cache: `sets` sets of `ways` lines, a line filled into the set
/// its caller computes, replacing a line with the same tag, an invalid line, or the
/// replacement policy's victim. The TLB is one (several sets); each walk-cache level
/// is one with a single set (fully associative).
@usableFromInline
struct SetAssociativeCache<Line: CacheLine> {
  @usableFromInline var lines: [Line]
  let ways: Int
  let setMask: Int
  @usableFromInline let replacement: MMUConfiguration.Replacement
  /// The replacement clock: one tick per use or fill.
  @usableFromInline var clock: UInt64 = 0
  var random: UInt64

  /// A cache of `sets` (a power of two) × `ways` lines, each `empty` (invalid) at first.
  init(sets: Int, ways: Int, replacement: MMUConfiguration.Replacement, empty: Line) {
    precondition(
      sets > 0 && sets & (sets - 1) == 0 && ways >= 0,
      "SetAssociativeCache: sets must be a power of two and ways not negative")
    lines = Array(repeating: empty, count: sets * ways)
    self.ways = ways
    setMask = sets - 1
    self.replacement = replacement
    if case .random(let seed) = replacement {
      random = seed | 1
    } else {
      random = 1
    }
  }

  /// The first slot of the set `set` selects (taken modulo the number of sets).
  @inline(__always)
  func firstSlot(ofSet set: Int) -> Int { (set & setMask) &* ways }

  /// Marks the line in `slot` used (under LRU, the last to be replaced).
  @inlinable @inline(__always)
  mutating func touch(_ slot: Int) {
    if case .leastRecentlyUsed = replacement {
      clock &+= 1
      lines[slot].stamp = clock
    }
  }

  /// Caches `line` in set `set`; returns the slot it took.
  @discardableResult
  mutating func fill(_ line: Line, set: Int) -> Int {
    precondition(ways > 0, "SetAssociativeCache: a fill needs at least one way")
    var line = line
    line.valid = true
    clock &+= 1
    line.stamp = clock
    let base = firstSlot(ofSet: set)
    var victim = base
    for slot in base..<(base &+ ways) {
      if !lines[slot].valid || lines[slot].hasSameTag(as: line) {
        lines[slot] = line
        return slot
      }
      if lines[slot].stamp < lines[victim].stamp { victim = slot }
    }
    if case .random = replacement {
      random ^= random << 13
      random ^= random >> 7
      random ^= random << 17
      victim = base &+ Int(truncatingIfNeeded: random % UInt64(ways))
    }
    lines[victim] = line
    return victim
  }

  /// Drops every valid line `covered` selects.
  mutating func invalidate(where covered: (Line) -> Bool) {
    for slot in lines.indices where lines[slot].valid && covered(lines[slot]) {
      lines[slot].valid = false
    }
  }

  /// Drops every line filled from address space `space`.
  mutating func forget(space: Int) {
    invalidate { $0.space == space }
  }
}
