import PageTables

/// One attached address space's roots and tags.
struct SpaceState {
  var roots: [UInt64]
  var tag: AddressSpace
  var attached: Bool
}

/// The model's state: the hardware (TLB, walk caches, walker) and the checker
/// (shadow tables, pending changes, reports). ``MMU`` guards it with a mutex.
@usableFromInline
struct MMUCore<Format: PageTableFormat, Memory: TableMemory> {
  let format: Format
  @usableFromInline let memory: Memory
  let configuration: MMUConfiguration
  @usableFromInline let checking: Bool
  /// The rule the break-before-make check enforces (see ``MMUConfiguration/liveEntryRule``).
  let liveEntryRule: LiveEntryRule
  let levels: [LevelGeometry]
  /// `tableBytes[level]`: the size of a table of the level (read on every checked hit).
  @usableFromInline let tableBytes: [Int]
  /// `shifts[level]`: the lowest virtual-address bit of the level's index.
  let shifts: [Int]
  let depth: Int
  let indexMask: UInt64
  let rootCoverageBits: Int
  let windows: [VirtualWindow]
  let outputLimit: UInt64

  var spaces: [SpaceState] = []
  @usableFromInline var tlb: TLB
  var walkCache: WalkCache
  /// The model's event counter: one per access, invalidation, free or check.
  @usableFromInline var event: UInt64 = 0
  var reports: [MMUReport] = []
  /// The last free judged: its event, address and size (see `pageFreed`).
  var lastFree: (event: UInt64, address: UInt64, byteCount: UInt64) = (0, 0, 0)

  // Checker state.
  var shadows: [UInt64: ShadowTable] = [:] {
    didSet { shadowsGeneration &+= 1 }
  }
  /// Counts changes to `shadows`, so `lastShadow` knows when it may be out of date.
  var shadowsGeneration: UInt64 = 0
  /// The table ``shadow(at:)`` found last: a told write to the same table as the one
  /// before skips the lookup.
  var lastShadow: (address: UInt64, generation: UInt64, shadow: ShadowTable?) = (0, ~0, nil)
  var liveTables: Set<UInt64> = []
  var pending: [SlotKey: PendingChange] = [:]
  /// The operation that made the model look at memory (named in break-before-make reports).
  var operation: MMUReport.Operation = .entryWrite

  init(format: Format, memory: Memory, configuration: MMUConfiguration) {
    self.format = format
    self.memory = memory
    self.configuration = configuration
    checking = configuration.checking != .off
    // The architecture decides, not the description: Arm requires break-before-make
    // of every ARM64 table, whatever its description declares.
    liveEntryRule =
      configuration.liveEntryRule
      ?? (format is ARM64Format ? .breakBeforeMake : format.liveEntryRule)
    let geometry = format.geometry
    levels = geometry.levels
    shifts = geometry.levels.map(\.shift)
    tableBytes = geometry.levels.map(\.tableBytes)
    depth = geometry.levels.count
    let indexBits = geometry.rootCoverageBits + geometry.rootSelectBits
    indexMask = indexBits >= 64 ? ~0 : (1 << UInt64(indexBits)) - 1
    rootCoverageBits = geometry.rootCoverageBits
    windows = geometry.windows
    outputLimit = geometry.outputBits >= 64 ? ~0 : 1 << UInt64(geometry.outputBits)
    // Every size a TLB entry can have: each leaf size, and each run size.
    var entryShifts = Set<Int>()
    for level in geometry.levels where level.allowsLeaf {
      entryShifts.insert(level.shift)
      if configuration.cacheContiguousRuns && level.contiguousRun > 1 {
        entryShifts.insert(level.shift + level.contiguousRun.trailingZeroBitCount)
      }
    }
    tlb = TLB(configuration: configuration, shifts: entryShifts.sorted())
    walkCache = WalkCache(levels: depth, entriesPerLevel: configuration.walkCacheEntries)
  }

  /// The external (sign-extended where the window is the upper one) form of an
  /// index-space address.
  func externalAddress(_ indexAddress: UInt64) -> UInt64 {
    for window in windows {
      let candidate = (window.first & ~indexMask) | indexAddress
      if window.contains(candidate) { return candidate }
    }
    return indexAddress
  }

  /// The entry at `index` of the table of `level` at `table`, read as the hardware
  /// reads it (one atomic load).
  @inlinable @inline(__always)
  func read(_ table: UInt64, level: Int, index: Int) -> UInt64 {
    memory.withTable(at: table, byteCount: tableBytes[level]) { $0.loadAcquiring(index) }
  }

  /// The index of `indexAddress` in a table of `level`.
  @inline(__always)
  func index(_ indexAddress: UInt64, level: Int) -> Int {
    Int(truncatingIfNeeded: indexAddress >> UInt64(shifts[level]))
      & (levels[level].entryCount &- 1)
  }

  /// Keeps `report` (or traps with it in strict mode).
  mutating func record(_ report: MMUReport) {
    if configuration.checking == .strict {
      fatalError("MMUModel (strict): \(report)")
    }
    reports.append(report)
  }

  /// Attaches an address space with `roots`.
  mutating func attach(roots: [UInt64], asid: UInt16, vmid: UInt16) -> AddressSpace {
    let tag = AddressSpace(index: spaces.count, asid: asid, vmid: vmid)
    spaces.append(SpaceState(roots: roots, tag: tag, attached: true))
    if checking {
      for (r, root) in roots.enumerated() {
        adopt(
          root, level: 0, space: tag.index, base: UInt64(r) << UInt64(rootCoverageBits),
          parent: (0, -1))
      }
    }
    return tag
  }

  /// Forgets an address space: its cached translations, shadows and pending changes
  /// (the context was torn down, with its TLB entries, before its tables are freed).
  mutating func detach(_ space: Int) {
    guard spaces[space].attached else { return }
    spaces[space].attached = false
    tlb.forget(space: space)
    walkCache.forget(space: space)
    shadows = shadows.filter { $0.value.space != space }
    liveTables = liveTables.filter { shadows[$0] != nil }
    pending = pending.filter { $0.value.space != space }
  }
}
