import PageTables

/// A recording invalidator whose record outlives the gather (a reference), with a
/// hook that runs at each invalidation: tests look at the table at that moment.
struct SharedTLB: TLBInvalidator {
  final class Record: @unchecked Sendable {
    var ranges: [RecordingTLB.Range] = []
    var fullFlushes = 0
    var onInvalidate: ((UInt64, UInt64) -> Void)?
  }
  let record: Record

  init(_ record: Record = Record()) { self.record = record }

  mutating func invalidateAll() { record.fullFlushes += 1 }
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    record.onInvalidate?(start, size)
    record.ranges.append(
      RecordingTLB.Range(start: start, size: size, granule: granule, leafOnly: leafOnly))
  }
}
