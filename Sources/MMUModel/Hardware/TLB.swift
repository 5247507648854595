import PageTables

/// One cached translation: a page, a block, or a whole contiguous run.
struct TLBEntry {
  /// Virtual page number: the external virtual address >> `shift`.
  var page: UInt64 = 0
  /// log2 of the bytes the entry covers.
  var shift: Int = 0
  var valid = false
  var global = false
  var asid: UInt16 = 0
  var vmid: UInt16 = 0
  /// The address space whose walk filled it (for reports).
  var space: Int = 0
  var level: Int = 0
  /// The physical address of the entry's first byte.
  var output: UInt64 = 0
  var protection = Protection()
  /// The raw leaf the walk read, and where: the table's physical address and index.
  var entry: UInt64 = 0
  var table: UInt64 = 0
  var index: Int = 0
  /// For a run: the difference between consecutive members' raw entries when it was
  /// filled (0 for a plain leaf), so a hit on another member can be checked with one
  /// comparison before decoding.
  var memberDelta: UInt64 = 0
  /// The model's event number when the entry was filled.
  var cachedAt: UInt64 = 0
  /// Replacement stamp: last use (LRU) or fill (FIFO).
  var stamp: UInt64 = 0

  /// The first virtual address the entry covers.
  var first: UInt64 { page << UInt64(shift) }
  /// The last virtual address the entry covers.
  var last: UInt64 { first &+ ((1 << UInt64(shift)) &- 1) }
}

/// A set-associative TLB holding entries of every size the format produces.
///
/// A lookup probes one set per entry size (smallest first), as cores with a
/// unified multi-size TLB do; a fill replaces a way of the entry's set.
struct TLB {
  var entries: [TLBEntry]
  let setMask: UInt64
  let ways: Int
  let replacement: MMUConfiguration.Replacement
  /// Every entry size (as a shift) the format can produce, ascending.
  let shifts: [Int]
  var clock: UInt64 = 0
  var random: UInt64

  init(configuration: MMUConfiguration, shifts: [Int]) {
    entries = Array(repeating: TLBEntry(), count: configuration.tlbEntries)
    ways = configuration.tlbWays
    setMask = UInt64(configuration.tlbEntries / configuration.tlbWays - 1)
    replacement = configuration.replacement
    self.shifts = shifts
    if case .random(let seed) = configuration.replacement {
      random = seed | 1
    } else {
      random = 1
    }
  }

  /// The slot holding a translation of `address` for (`asid`, `vmid`), marking it used.
  @inline(__always)
  mutating func lookup(_ address: UInt64, asid: UInt16, vmid: UInt16) -> Int? {
    for shift in shifts {
      let page = address >> UInt64(shift)
      let base = Int(truncatingIfNeeded: page & setMask) &* ways
      for slot in base..<(base &+ ways) where matches(slot, page, shift, asid, vmid) {
        if case .leastRecentlyUsed = replacement {
          clock &+= 1
          entries[slot].stamp = clock
        }
        return slot
      }
    }
    return nil
  }

  /// Whether the entry in `slot` translates `page` (of `1 << shift` bytes) for
  /// (`asid`, `vmid`); reads the fields in place, without copying the entry.
  @inline(__always)
  func matches(_ slot: Int, _ page: UInt64, _ shift: Int, _ asid: UInt16, _ vmid: UInt16) -> Bool {
    entries[slot].page == page && entries[slot].valid && entries[slot].shift == shift
      && entries[slot].vmid == vmid && (entries[slot].global || entries[slot].asid == asid)
  }

  /// Caches `entry`, replacing an invalid way or the policy's victim.
  mutating func fill(_ entry: TLBEntry) {
    var entry = entry
    entry.valid = true
    clock &+= 1
    entry.stamp = clock
    let base = Int(truncatingIfNeeded: entry.page & setMask) &* ways
    var victim = base
    for slot in base..<(base + ways) {
      let existing = entries[slot]
      if !existing.valid
        || (existing.page == entry.page && existing.shift == entry.shift
          && existing.vmid == entry.vmid && existing.asid == entry.asid
          && existing.global == entry.global)
      {
        victim = slot
        entries[victim] = entry
        return
      }
      if existing.stamp < entries[victim].stamp { victim = slot }
    }
    if case .random = replacement {
      random ^= random << 13
      random ^= random >> 7
      random ^= random << 17
      victim = base + Int(truncatingIfNeeded: random % UInt64(ways))
    }
    entries[victim] = entry
  }

  /// Drops every entry `command` covers in `vmid`.
  mutating func invalidate(_ command: TLBInvalidation, vmid: UInt16) {
    for slot in entries.indices where entries[slot].valid && entries[slot].vmid == vmid {
      let entry = entries[slot]
      if command.covers(
        first: entry.first, last: entry.last, asid: entry.asid, global: entry.global,
        isLeaf: true)
      {
        entries[slot].valid = false
      }
    }
  }

  /// Drops every entry filled from address space `space`.
  mutating func forget(space: Int) {
    for slot in entries.indices where entries[slot].space == space { entries[slot].valid = false }
  }
}
