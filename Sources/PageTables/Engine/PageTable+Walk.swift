/// Visits what a walk finds. Every method has an empty default.
public protocol PageTableVisitor {
  /// A leaf: the page or block at `virtualAddress` (its first byte, which may lie
  /// before the walked range) of `size` bytes at `level`.
  mutating func visitLeaf(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int,
    protection: Protection, entry: UInt64)
  /// A table, before its entries are visited. `virtualAddress` is the first address
  /// it covers.
  mutating func enterTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64)
  /// A table, after its entries were visited.
  mutating func leaveTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64)
}

extension PageTableVisitor {
  public mutating func visitLeaf(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int,
    protection: Protection, entry: UInt64
  ) {}
  public mutating func enterTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64) {}
  public mutating func leaveTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64) {}
}

/// A visitor that merges leaves into runs: consecutive virtual addresses mapped to
/// consecutive physical addresses with the same protection.
public struct RunCollector: PageTableVisitor {
  /// The runs found so far, in address order.
  public private(set) var runs: [MappingRun] = []

  /// A collector that has seen no leaf.
  public init() {}

  public mutating func visitLeaf(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int,
    protection: Protection, entry: UInt64
  ) {
    if let last = runs.last, last.virtualAddress &+ last.size == virtualAddress,
      last.physicalAddress &+ last.size == physicalAddress, last.protection == protection
    {
      runs[runs.count - 1].size &+= size
    } else {
      runs.append(
        MappingRun(
          virtualAddress: virtualAddress, physicalAddress: physicalAddress, size: size,
          protection: protection))
    }
  }
}

extension PageTable {
  /// Walks the tables and leaves that intersect `[virtualAddress, virtualAddress + size)`
  /// in address order: `enterTable` before a table's entries, `visitLeaf` for each
  /// leaf, `leaveTable` after.
  public func walk<Visitor: PageTableVisitor>(
    virtualAddress: UInt64, size: UInt64, visitor: inout Visitor
  ) throws(PageTableError) {
    let start = try locate(virtualAddress, size: size)
    let operation = enterOperation()
    defer { exitOperation(operation) }
    walkRange(start: start, end: start &+ size, visitor: &visitor)
  }

  /// Walks every table and leaf of the table.
  public func walkAll<Visitor: PageTableVisitor>(visitor: inout Visitor) {
    let operation = enterOperation()
    defer { exitOperation(operation) }
    let end = indexMask == ~0 ? ~0 : indexMask &+ 1
    walkRange(start: 0, end: end, visitor: &visitor)
  }

  /// Every mapping, merged into runs of contiguous virtual and physical addresses
  /// with one protection.
  public func dump() -> [MappingRun] {
    var collector = RunCollector()
    walkAll(visitor: &collector)
    return collector.runs
  }

  func walkRange<Visitor: PageTableVisitor>(start: UInt64, end: UInt64, visitor: inout Visitor) {
    var position = start
    while position < end {
      let (rootAddress, base) = root(for: position)
      let rootEnd = min(end, tableEnd(level: 0, base: base))
      walkTable(
        at: rootAddress, level: 0, base: base, start: position, end: rootEnd, visitor: &visitor)
      if rootEnd == ~0 { break }
      position = rootEnd
    }
  }

  func walkTable<Visitor: PageTableVisitor>(
    at tableAddress: UInt64, level: Int, base: UInt64, start: UInt64, end: UInt64,
    visitor: inout Visitor
  ) {
    let geometry = levels[level]
    let shift = UInt64(geometry.shift)
    let limit = min(end, tableEnd(level: level, base: base))
    visitor.enterTable(
      virtualAddress: externalAddress(base), level: level, physicalAddress: tableAddress)
    memory.withTable(at: tableAddress, byteCount: geometry.tableBytes) { view in
      var position = max(start, base)
      while position < limit {
        let index = Int(truncatingIfNeeded: (position &- base) >> shift)
        let slot = base &+ (UInt64(index) << shift)
        let slotEnd = slot &+ geometry.leafSize
        let entry = view.loadAcquiring(index)
        switch format.kind(of: entry, level: level) {
        case .empty:
          break
        case .leaf:
          visitor.visitLeaf(
            virtualAddress: externalAddress(slot),
            physicalAddress: format.outputAddress(of: entry, level: level, virtualAddress: slot),
            size: geometry.leafSize, level: level,
            protection: format.protection(of: entry, level: level), entry: entry)
        case .table:
          if level + 1 < levelCount {
            walkTable(
              at: format.tableAddress(of: entry, level: level), level: level + 1, base: slot,
              start: position, end: min(limit, slotEnd), visitor: &visitor)
          }
        }
        if slotEnd == 0 { break }  // the last slot of a 2^64 space
        position = slotEnd
      }
    }
    visitor.leaveTable(
      virtualAddress: externalAddress(base), level: level, physicalAddress: tableAddress)
  }
}
