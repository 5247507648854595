/// One physically contiguous piece of a scatter-gather list.
///
/// ```swift
/// let pieces = [PhysicalSegment(physicalAddress: 0x8000_0000, size: 0x20_0000),
///               PhysicalSegment(physicalAddress: 0x9000_4000, size: 0x4000)]
/// try table.map(virtualAddress: 0x4000_0000, segments: pieces, protection: .readWrite)
/// ```
public struct PhysicalSegment: Hashable, Sendable {
  /// The first byte of the piece (aligned to the format's page size).
  public var physicalAddress: UInt64
  /// Bytes in the piece (a non-zero multiple of the format's page size).
  public var size: UInt64

  /// A piece of `size` bytes from `physicalAddress`.
  public init(physicalAddress: UInt64, size: UInt64) {
    self.physicalAddress = physicalAddress
    self.size = size
  }
}

extension PageTable {
  /// Maps one virtual range onto a sequence of physical pieces, back to back: the
  /// first piece at `virtualAddress`, the next right after it, and so on. The way
  /// GPU buffer objects and DMA buffers are mapped (a scatter-gather list).
  ///
  /// Each piece gets the largest leaves (blocks, pages, contiguous runs) that the
  /// alignment of its virtual and physical addresses allows, exactly as
  /// ``map(virtualAddress:physicalAddress:size:protection:)`` would give it alone.
  ///
  /// ```swift
  /// let pages = [PhysicalSegment(physicalAddress: 0x8020_0000, size: 0x20_0000),  // a 2 MiB block
  ///              PhysicalSegment(physicalAddress: 0x8000_3000, size: 0x1000)]     // one page
  /// try table.map(virtualAddress: 0x4000_0000, segments: pages, protection: .readWrite)
  /// table.translate(0x4020_0000)?.physicalAddress                                 // 0x8000_3000
  /// ```
  ///
  /// All or nothing, like the single-range map: every piece is checked before
  /// anything changes, and if the range meets an existing mapping or table memory
  /// runs out, the leaves written so far (of every piece) are removed again before
  /// it throws.
  ///
  /// - Returns: the number of bytes mapped (the sum of the pieces' sizes).
  /// - Throws: ``PageTableError/zeroSize`` for an empty list or an empty piece; a
  ///   misaligned or out-of-range piece's error; ``PageTableError/addressOverflow(address:size:)``
  ///   if the sizes add up past 2^64; the errors of the single-range map.
  @discardableResult
  public func map<Segments: Collection>(
    virtualAddress: UInt64, segments: Segments, protection: Protection
  ) throws(PageTableError) -> UInt64 where Segments.Element == PhysicalSegment {
    var total: UInt64 = 0
    for segment in segments {
      guard segment.size != 0 else { throw .zeroSize }
      guard segment.size & (granule &- 1) == 0 else { throw .misalignedSize(segment.size) }
      try checkOutput(segment.physicalAddress, size: segment.size)
      let (sum, overflow) = total.addingReportingOverflow(segment.size)
      guard !overflow else { throw .addressOverflow(address: virtualAddress, size: total) }
      total = sum
    }
    let start = try locate(virtualAddress, size: total)
    var templates = InlineArray<6, UInt64>(repeating: 0)
    let pageLevel = levelCount &- 1
    templates[pageLevel] = try format.leafTemplate(for: protection, level: pageLevel)
    var ready: UInt8 = 1 << UInt8(pageLevel)
    let operation = enterOperation()
    defer { exitOperation(operation) }
    var position = start
    var reserve = MapReserve()
    var piece = segments.startIndex
    while piece != segments.endIndex {
      let segment = segments[piece]
      var cursor = MapCursor(
        virtualAddress: position, physicalAddress: segment.physicalAddress,
        end: position &+ segment.size, protection: protection, templates: templates,
        ready: ready, reserve: reserve)
      var failure = mapCursorRange(&cursor)
      if case .tablesNotReserved? = failure {
        // The first table needed: count those of this piece's rest and every later
        // piece, and allocate them all before linking one.
        var demand = TableDemand()
        failure = countTables(
          start: cursor.virtualAddress, end: cursor.end, physicalAddress: cursor.physicalAddress,
          cursor: &cursor, into: &demand)
        var later = segments.index(after: piece)
        var laterStart = cursor.end
        while failure == nil && later != segments.endIndex {
          let next = segments[later]
          failure = countTables(
            start: laterStart, end: laterStart &+ next.size,
            physicalAddress: next.physicalAddress, cursor: &cursor, into: &demand)
          laterStart &+= next.size
          later = segments.index(after: later)
        }
        failure =
          failure ?? allocateTables(demand, into: &cursor.reserve) ?? mapCursorRange(&cursor)
      }
      if let failure {
        releaseTables(&cursor.reserve)
        rollBack(start: start, end: cursor.virtualAddress)
        throw mapError(for: failure, protection: protection)
      }
      // Later pieces reuse the leaf templates this one computed, and its reserve.
      templates = cursor.templates
      ready = cursor.ready
      reserve = cursor.reserve
      position = cursor.end
      piece = segments.index(after: piece)
    }
    releaseTables(&reserve)
    return total
  }
}
