/// One cached table entry: which table of level `level` translates a range.
@usableFromInline
struct WalkCacheEntry: CacheLine {
  @usableFromInline var valid = false
  var vmid: UInt16 = 0
  var asid: UInt16 = 0
  @usableFromInline var space: Int = 0
  /// The level of the table it points at (≥ 1).
  var level: Int = 0
  /// External virtual address >> the parent level's shift.
  var prefix: UInt64 = 0
  /// log2 of the bytes the parent entry covers.
  var shift: Int = 0
  /// The table it points at.
  var table: UInt64 = 0
  /// The parent entry as read, and where it was read.
  var entry: UInt64 = 0
  var parentTable: UInt64 = 0
  var parentIndex: Int = 0
  var cachedAt: UInt64 = 0
  @usableFromInline var stamp: UInt64 = 0

  var first: UInt64 { prefix << UInt64(shift) }
  var last: UInt64 { first &+ ((1 << UInt64(shift)) &- 1) }

  @usableFromInline
  func hasSameTag(as other: WalkCacheEntry) -> Bool {
    prefix == other.prefix && asid == other.asid && vmid == other.vmid
  }
}

/// Walk caches for the intermediate levels: per level, a small fully associative
/// LRU cache of table entries (Arm's intermediate-level caching), tagged by VMID
/// and ASID.
struct WalkCache {
  /// `levels[level]` caches pointers to tables of `level` (level 0 has no ways).
  var levels: [SetAssociativeCache<WalkCacheEntry>]

  init(levels count: Int, entriesPerLevel: Int) {
    levels = (0..<count).map { level in
      SetAssociativeCache(
        sets: 1, ways: level == 0 ? 0 : entriesPerLevel, replacement: .leastRecentlyUsed,
        empty: WalkCacheEntry())
    }
  }

  /// The entry in `slot` of `level`.
  subscript(level: Int, slot: Int) -> WalkCacheEntry { levels[level].lines[slot] }

  /// The deepest cached table for `address`: (level, slot) or nil.
  mutating func deepest(
    _ address: UInt64, asid: UInt16, vmid: UInt16, shifts: [Int], depth: Int
  ) -> (level: Int, slot: Int)? {
    var level = depth - 1
    while level >= 1 {
      let prefix = address >> UInt64(shifts[level - 1])
      for slot in levels[level].lines.indices {
        let entry = levels[level].lines[slot]
        if entry.valid && entry.prefix == prefix && entry.asid == asid && entry.vmid == vmid {
          levels[level].touch(slot)
          return (level, slot)
        }
      }
      level -= 1
    }
    return nil
  }

  /// Caches `entry` at its level, replacing the least recently used slot.
  mutating func fill(_ entry: WalkCacheEntry) {
    guard levels[entry.level].ways > 0 else { return }
    levels[entry.level].fill(entry, set: 0)
  }

  /// Drops every entry `command` covers in `vmid` (leaf-only commands keep them).
  mutating func invalidate(_ command: TLBInvalidation, vmid: UInt16) {
    for level in levels.indices {
      levels[level].invalidate { entry in
        entry.vmid == vmid
          && command.covers(
            first: entry.first, last: entry.last, asid: entry.asid, global: false, isLeaf: false)
      }
    }
  }

  /// Drops every entry filled from address space `space`.
  mutating func forget(space: Int) {
    for level in levels.indices { levels[level].forget(space: space) }
  }

  /// Every valid entry, shallowest level first.
  var validEntries: [WalkCacheEntry] {
    levels.flatMap { $0.lines.filter(\.valid) }
  }

  /// A valid entry that points at `table`, if any.
  func entry(pointingAt table: UInt64) -> WalkCacheEntry? {
    for level in levels {
      for entry in level.lines where entry.valid && entry.table == table { return entry }
    }
    return nil
  }
}
