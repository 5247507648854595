/// The tables a `map` needs, allocated before it links the first one, so that a
/// map that fails has linked none: it fails before (for lack of memory, a leaf in
/// the way, a protection the format refuses) or not at all.
///
/// Reserved tables wait in one list per level, linked through their entry 0
/// (they are nobody else's yet, so the list costs no storage); a table taken
/// from the list gets that entry cleared. Tables for a child that the map fills
/// whole (see `prefillTable`) are allocated for overwriting, the others zeroed.
@usableFromInline
struct MapReserve {
  /// The first zeroed table of each level's list (valid while `zeroed[level] > 0`).
  @usableFromInline var zeroedHeads = InlineArray<6, UInt64>(repeating: 0)
  /// Zeroed tables waiting, by level.
  @usableFromInline var zeroed = InlineArray<6, Int>(repeating: 0)
  /// The first table for overwriting of each level's list.
  @usableFromInline var overwriteHeads = InlineArray<6, UInt64>(repeating: 0)
  /// Tables for overwriting waiting, by level.
  @usableFromInline var overwrite = InlineArray<6, Int>(repeating: 0)
  /// Whether the map counted and allocated its tables already (it does once, when
  /// it first needs a table).
  @usableFromInline var isCounted = false

  @usableFromInline init() {}
}

/// How many tables a map will link, by level, as ``MapReserve`` keeps them.
struct TableDemand {
  var zeroed = InlineArray<6, Int>(repeating: 0)
  var overwrite = InlineArray<6, Int>(repeating: 0)
}

extension PageTable {
  /// Counts the tables mapping `[start, end)` (index space) from `physicalAddress`
  /// links, walking the tables that exist and simulating the ones that do not
  /// exactly as `mapInTable` decides (leaves where alignment and size allow, a
  /// table filled whole where it can be, a table otherwise). Returns the failure
  /// the map would meet (a leaf in the way, a protection the format refuses at a
  /// level a leaf goes to), so the map fails before it links anything.
  @inline(never)
  func countTables(
    start: UInt64, end: UInt64, physicalAddress: UInt64, cursor: inout MapCursor,
    into demand: inout TableDemand
  ) -> MapFailure? {
    var address = start
    while address != end {
      let (rootAddress, base) = root(for: address)
      // SAFETY: the root stays allocated while the table lives.
      let view = unsafe memory.unsafeTable(at: rootAddress, byteCount: plan(0).tableBytes)
      let limit = min(end, plan(0).tableEnd(base: base))
      if let failure = countInTable(
        view, level: 0, base: base, start: address, end: limit,
        physicalAddress: physicalAddress &+ (address &- start), cursor: &cursor, into: &demand)
      {
        return failure
      }
      address = limit
    }
    return nil
  }

  /// Counts inside one table of `level` based at `base` (`view`, or nil for a
  /// table the map will link, empty): `[start, end)` lies inside it.
  func countInTable(
    _ view: TableView?, level: Int, base: UInt64, start: UInt64, end: UInt64,
    physicalAddress: UInt64, cursor: inout MapCursor, into demand: inout TableDemand
  ) -> MapFailure? {
    let geometry = plan(level)
    var address = start
    var forceDescend = false
    while address < end {
      let index = Int(truncatingIfNeeded: (address &- base) >> geometry.shift)
      let physical = physicalAddress &+ (address &- start)
      if geometry.allowsLeaf && !forceDescend
        && (address | physical) & (geometry.leafSize &- 1) == 0
        && end &- address >= geometry.leafSize
      {
        if cursor.ready & (1 << UInt8(truncatingIfNeeded: level)) == 0 {
          guard prepareTemplate(level: level, cursor: &cursor) else {
            return .template(level: level)
          }
        }
        let count = Int(
          truncatingIfNeeded: min(
            (end &- address) >> geometry.shift, UInt64(geometry.entryCount &- index)))
        guard let view, !view.areEmpty(from: index, count: count) else {
          address &+= UInt64(truncatingIfNeeded: count) &* geometry.leafSize
          continue
        }
        var free = 0
        while view.load(index &+ free) == 0 { free &+= 1 }
        address &+= UInt64(truncatingIfNeeded: free) &* geometry.leafSize
        let entry = view.loadAcquiring(index &+ free)
        guard format.kind(of: entry, level: level) == .table && geometry.hasChild else {
          return .alreadyMapped(externalAddress(address))
        }
        forceDescend = true
        continue
      }
      forceDescend = false
      guard geometry.hasChild else { return nil }  // `mapInTable` traps here
      let childBase = base &+ (UInt64(truncatingIfNeeded: index) << geometry.shift)
      let childLevel = level &+ 1
      let childEnd = min(end, plan(childLevel).tableEnd(base: childBase))
      let entry = view?.loadAcquiring(index) ?? 0
      if entry == 0 {
        if address == childBase && end &- childBase >= geometry.leafSize
          && plan(childLevel).allowsLeaf && physical & (plan(childLevel).leafSize &- 1) == 0
        {
          // `prefillTable`: one table, filled whole with leaves.
          if cursor.ready & (1 << UInt8(truncatingIfNeeded: childLevel)) == 0 {
            guard prepareTemplate(level: childLevel, cursor: &cursor) else {
              return .template(level: childLevel)
            }
          }
          demand.overwrite[childLevel] &+= 1
        } else {
          demand.zeroed[childLevel] &+= 1
          if let failure = countInTable(
            nil, level: childLevel, base: childBase, start: address, end: childEnd,
            physicalAddress: physical, cursor: &cursor, into: &demand)
          {
            return failure
          }
        }
      } else if format.kind(of: entry, level: level) == .table {
        // SAFETY: this operation entered the reclamation counter, so a table it
        // reached is not freed before it finishes.
        let child = unsafe memory.unsafeTable(
          at: format.tableAddress(of: entry, level: level),
          byteCount: geometry.childTableBytes)
        if let failure = countInTable(
          child, level: childLevel, base: childBase, start: address, end: childEnd,
          physicalAddress: physical, cursor: &cursor, into: &demand)
        {
          return failure
        }
      } else {
        return .alreadyMapped(externalAddress(address))
      }
      address = childEnd
    }
    return nil
  }

  /// Allocates the tables `demand` counts into `reserve`; on failure gives back
  /// what it allocated and returns why (nothing was linked).
  @inline(never)
  func allocateTables(_ demand: TableDemand, into reserve: inout MapReserve) -> MapFailure? {
    reserve.isCounted = true
    for level in 1..<levelCount {
      let byteCount = plan(level).tableBytes
      for pass in 0..<2 {
        let forOverwrite = pass == 1
        let wanted = forOverwrite ? demand.overwrite[level] : demand.zeroed[level]
        for _ in 0..<wanted {
          let allocated =
            forOverwrite
            ? memory.allocateTableForOverwrite(byteCount: byteCount)
            : memory.allocateTable(byteCount: byteCount)
          guard let table = allocated else {
            releaseTables(&reserve)
            return .outOfTableMemory
          }
          // SAFETY: the table was just allocated and is not reachable by anyone else.
          let view = unsafe memory.unsafeTable(at: table, byteCount: byteCount)
          if checksEachTable && isOutOfReach(table, byteCount: byteCount, level: level &- 1) {
            discardUnpublished(view, at: table, byteCount: byteCount)
            releaseTables(&reserve)
            return .tableOutOfReach(table)
          }
          if forOverwrite {
            view.store(0, reserve.overwrite[level] > 0 ? reserve.overwriteHeads[level] : 0)
            reserve.overwriteHeads[level] = table
            reserve.overwrite[level] &+= 1
          } else {
            view.store(0, reserve.zeroed[level] > 0 ? reserve.zeroedHeads[level] : 0)
            reserve.zeroedHeads[level] = table
            reserve.zeroed[level] &+= 1
          }
        }
      }
    }
    return nil
  }

  /// A reserved table of `level` (zeroed, or for overwriting), or nil if none is
  /// left (a racing unmap unlinked a table the count relied on).
  @usableFromInline
  func takeReservedTable(level: Int, forOverwrite: Bool, from reserve: inout MapReserve)
    -> UInt64?
  {
    let byteCount = plan(level).tableBytes
    if forOverwrite && reserve.overwrite[level] > 0 {
      let table = reserve.overwriteHeads[level]
      // SAFETY: reserved tables are allocated and reachable by nobody else.
      reserve.overwriteHeads[level] = unsafe memory.unsafeTable(
        at: table, byteCount: byteCount
      ).load(0)
      reserve.overwrite[level] &-= 1
      return table
    }
    guard reserve.zeroed[level] > 0 else { return nil }
    let table = reserve.zeroedHeads[level]
    // SAFETY: as above.
    let view = unsafe memory.unsafeTable(at: table, byteCount: byteCount)
    reserve.zeroedHeads[level] = view.load(0)
    view.store(0, 0)
    reserve.zeroed[level] &-= 1
    return table
  }

  /// Puts back a reserved table that lost a race to be linked (emptied again).
  func returnReservedTable(_ table: UInt64, level: Int, into reserve: inout MapReserve) {
    // SAFETY: the table was never published; nobody else can reach it.
    let view = unsafe memory.unsafeTable(at: table, byteCount: plan(level).tableBytes)
    view.store(0, reserve.zeroed[level] > 0 ? reserve.zeroedHeads[level] : 0)
    reserve.zeroedHeads[level] = table
    reserve.zeroed[level] &+= 1
  }

  /// Frees every table left in `reserve` (none was ever linked).
  @usableFromInline
  func releaseTables(_ reserve: inout MapReserve) {
    for level in 1..<levelCount {
      while let table = takeReservedTable(level: level, forOverwrite: true, from: &reserve) {
        let byteCount = plan(level).tableBytes
        // SAFETY: the table was never published; nobody else can reach it.
        discardUnpublished(
          unsafe memory.unsafeTable(at: table, byteCount: byteCount), at: table,
          byteCount: byteCount)
      }
    }
  }
}
