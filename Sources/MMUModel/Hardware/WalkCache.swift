/// One cached table entry: which table of level `level` translates a range.
struct WalkCacheEntry {
  var valid = false
  var vmid: UInt16 = 0
  var asid: UInt16 = 0
  var space: Int = 0
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
  var stamp: UInt64 = 0

  var first: UInt64 { prefix << UInt64(shift) }
  var last: UInt64 { first &+ ((1 << UInt64(shift)) &- 1) }
}

/// Walk caches for the intermediate levels: per level, a small fully associative
/// cache of table entries (Arm's intermediate-level caching), tagged by VMID and ASID.
struct WalkCache {
  /// `entries[level]` caches pointers to tables of `level` (index 0 is unused).
  var entries: [[WalkCacheEntry]]
  var clock: UInt64 = 0

  init(levels: Int, entriesPerLevel: Int) {
    entries = (0..<levels).map { level in
      level == 0 ? [] : Array(repeating: WalkCacheEntry(), count: entriesPerLevel)
    }
  }

  /// The deepest cached table for `address`: (level, slot) or nil.
  mutating func deepest(
    _ address: UInt64, asid: UInt16, vmid: UInt16, shifts: [Int], depth: Int
  ) -> (level: Int, slot: Int)? {
    var level = depth - 1
    while level >= 1 {
      let prefix = address >> UInt64(shifts[level - 1])
      for slot in entries[level].indices {
        let entry = entries[level][slot]
        if entry.valid && entry.prefix == prefix && entry.asid == asid && entry.vmid == vmid {
          clock &+= 1
          entries[level][slot].stamp = clock
          return (level, slot)
        }
      }
      level -= 1
    }
    return nil
  }

  /// Caches `entry` at its level, replacing the least recently used slot.
  mutating func fill(_ entry: WalkCacheEntry) {
    guard !entries[entry.level].isEmpty else { return }
    var entry = entry
    entry.valid = true
    clock &+= 1
    entry.stamp = clock
    var victim = 0
    for slot in entries[entry.level].indices {
      let existing = entries[entry.level][slot]
      if !existing.valid
        || (existing.prefix == entry.prefix && existing.asid == entry.asid
          && existing.vmid == entry.vmid)
      {
        victim = slot
        break
      }
      if existing.stamp < entries[entry.level][victim].stamp { victim = slot }
    }
    entries[entry.level][victim] = entry
  }

  /// Drops every entry `command` covers in `vmid` (leaf-only commands keep them).
  mutating func invalidate(_ command: TLBInvalidation, vmid: UInt16) {
    for level in entries.indices {
      for slot in entries[level].indices where entries[level][slot].valid {
        let entry = entries[level][slot]
        if entry.vmid == vmid
          && command.covers(
            first: entry.first, last: entry.last, asid: entry.asid, global: false, isLeaf: false)
        {
          entries[level][slot].valid = false
        }
      }
    }
  }

  /// Drops every entry filled from address space `space`.
  mutating func forget(space: Int) {
    for level in entries.indices {
      for slot in entries[level].indices where entries[level][slot].space == space {
        entries[level][slot].valid = false
      }
    }
  }

  /// A valid entry that points at `table`, if any.
  func entry(pointingAt table: UInt64) -> WalkCacheEntry? {
    for level in entries.indices {
      for entry in entries[level] where entry.valid && entry.table == table { return entry }
    }
    return nil
  }
}
