import PageTables

/// One cached translation: a page, a block, or a whole contiguous run.
@usableFromInline
struct TLBEntry: CacheLine {
  /// Virtual page number: the external virtual address >> `shift`.
  var page: UInt64 = 0
  /// log2 of the bytes the entry covers.
  @usableFromInline var shift: Int = 0
  @usableFromInline var valid = false
  var global = false
  var asid: UInt16 = 0
  var vmid: UInt16 = 0
  /// The address space whose walk filled it (for reports).
  @usableFromInline var space: Int = 0
  @usableFromInline var level: Int = 0
  /// The physical address of the entry's first byte.
  var output: UInt64 = 0
  @usableFromInline var protection = Protection()
  /// The raw leaf the walk read, and where: the table's physical address and index.
  var entry: UInt64 = 0
  var table: UInt64 = 0
  var index: Int = 0
  /// For a run: the difference between consecutive members' raw entries when it was
  /// filled (0 for a plain leaf), so a hit on another member can be checked with one
  /// comparison before decoding.
  var memberDelta: UInt64 = 0
  /// The model's event number when the entry was filled.
  @usableFromInline var cachedAt: UInt64 = 0
  /// Replacement stamp: last use (LRU) or fill (FIFO).
  @usableFromInline var stamp: UInt64 = 0

  /// The first virtual address the entry covers.
  var first: UInt64 { page << UInt64(shift) }
  /// The last virtual address the entry covers.
  var last: UInt64 { first &+ ((1 << UInt64(shift)) &- 1) }

  @usableFromInline
  func hasSameTag(as other: TLBEntry) -> Bool {
    page == other.page && shift == other.shift && vmid == other.vmid && asid == other.asid
      && global == other.global
  }
}

/// A set-associative TLB holding entries of every size the format produces.
///
/// A lookup probes one set per entry size that may be cached (smallest first), as
/// cores with a unified multi-size TLB do; a fill replaces a way of the entry's set.
@usableFromInline
struct TLB {
  @usableFromInline var cache: SetAssociativeCache<TLBEntry>
  /// Every entry size (as a shift) the format can produce, ascending.
  let shifts: [Int]
  /// Bit `i` set: an entry of `shifts[i]` may be cached (set by a fill, recomputed
  /// by an invalidation), so a lookup skips sizes nothing holds.
  var sizesCached: UInt64 = 0
  /// The micro-TLBs in front (kept consistent with the entries here).
  @usableFromInline var micro: MicroTLB

  init(configuration: MMUConfiguration, shifts: [Int]) {
    precondition(
      !shifts.isEmpty && shifts.count <= 64, "TLB: between 1 and 64 entry sizes")
    micro = MicroTLB(pageShift: shifts[0])
    cache = SetAssociativeCache(
      sets: configuration.tlbEntries / configuration.tlbWays, ways: configuration.tlbWays,
      replacement: configuration.replacement, empty: TLBEntry())
    self.shifts = shifts
  }

  /// The entry in `slot`.
  @inline(__always)
  subscript(slot: Int) -> TLBEntry { cache.lines[slot] }

  /// Every valid entry.
  var validEntries: [TLBEntry] { cache.lines.filter(\.valid) }

  /// The slot holding a translation of `address` for (`asid`, `vmid`), marking it used.
  @inline(__always)
  mutating func lookup(_ address: UInt64, asid: UInt16, vmid: UInt16) -> Int? {
    var sizes = sizesCached
    while sizes != 0 {
      let shift = shifts[sizes.trailingZeroBitCount]
      sizes &= sizes &- 1
      let page = address >> UInt64(shift)
      let base = cache.firstSlot(ofSet: Int(truncatingIfNeeded: page))
      for slot in base..<(base &+ cache.ways) where matches(slot, page, shift, asid, vmid) {
        cache.touch(slot)
        return slot
      }
    }
    return nil
  }

  /// Whether the entry in `slot` translates `page` (of `1 << shift` bytes) for
  /// (`asid`, `vmid`); reads the fields in place, without copying the entry.
  @inline(__always)
  func matches(_ slot: Int, _ page: UInt64, _ shift: Int, _ asid: UInt16, _ vmid: UInt16) -> Bool {
    cache.lines[slot].page == page && cache.lines[slot].valid && cache.lines[slot].shift == shift
      && cache.lines[slot].vmid == vmid
      && (cache.lines[slot].global || cache.lines[slot].asid == asid)
  }

  /// Caches `entry`, replacing an invalid way or the policy's victim; returns its slot.
  @discardableResult
  mutating func fill(_ entry: TLBEntry) -> Int {
    if let size = shifts.firstIndex(of: entry.shift) { sizesCached |= 1 << UInt64(size) }
    return cache.fill(entry, set: Int(truncatingIfNeeded: entry.page))
  }

  /// Drops every entry `command` covers in `vmid`.
  mutating func invalidate(_ command: TLBInvalidation, vmid: UInt16) {
    cache.invalidate { entry in
      entry.vmid == vmid
        && command.covers(
          first: entry.first, last: entry.last, asid: entry.asid, global: entry.global,
          isLeaf: true)
    }
    recountSizes()
  }

  /// Drops every entry filled from address space `space`.
  mutating func forget(space: Int) {
    cache.forget(space: space)
    recountSizes()
  }

  /// Sets ``sizesCached`` to exactly the sizes of the valid entries (after entries
  /// were dropped), and empties the micro-TLBs.
  mutating func recountSizes() {
    micro.clear()
    sizesCached = 0
    for entry in cache.lines where entry.valid {
      if let size = shifts.firstIndex(of: entry.shift) { sizesCached |= 1 << UInt64(size) }
    }
  }
}
