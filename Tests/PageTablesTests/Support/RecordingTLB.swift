import PageTables

/// A TLB invalidator that records what it was asked to do.
struct RecordingTLB: TLBInvalidator {
  struct Range: Equatable {
    var start: UInt64
    var size: UInt64
    var granule: UInt64
    var leafOnly: Bool
  }
  var ranges: [Range] = []
  var fullFlushes = 0
  /// Ranges handed to `addedToGather` (Linux's `tlb_add_page`), in order.
  var added: [Range] = []

  mutating func invalidateAll() { fullFlushes += 1 }
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    ranges.append(Range(start: start, size: size, granule: granule, leafOnly: leafOnly))
  }
  mutating func addedToGather(start: UInt64, size: UInt64, granule: UInt64) {
    added.append(Range(start: start, size: size, granule: granule, leafOnly: true))
  }

  /// Whether `address` was covered by an invalidation.
  func covers(_ address: UInt64) -> Bool {
    fullFlushes > 0 || ranges.contains { address >= $0.start && address &- $0.start < $0.size }
  }
}

/// Makes a table over a fresh image, with leaks trapping.
func makeTable<Format: PageTableFormat>(_ format: Format, imageBytes: Int = 32 << 20) throws
  -> PageTable<Format, ImageTableMemory>
{
  try PageTable(
    format: format, memory: ImageTableMemory(base: 0x4000_0000, byteCount: imageBytes),
    options: PageTableOptions(trapOnLeakedMappings: true))
}

/// Unmaps and flushes, returning bytes unmapped.
@discardableResult
func unmapAndFlush<Format: PageTableFormat, Memory: TableMemory>(
  _ table: PageTable<Format, Memory>, _ virtualAddress: UInt64, _ size: UInt64
) throws -> UInt64 {
  var gather = TLBGather(invalidator: RecordingTLB())
  let bytes = try table.unmap(virtualAddress: virtualAddress, size: size, gather: &gather)
  table.flush(&gather)
  return bytes
}
