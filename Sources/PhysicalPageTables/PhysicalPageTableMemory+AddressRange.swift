import PageTables
import PhysicalPages

extension PhysicalPageTableMemory {
  /// The machine's RAM: every table is a page of it, so a `PageTable` can refuse
  /// at creation a format that cannot point at all of it.
  public var tableAddressRange: ClosedRange<UInt64>? {
    let range = physicalMemory.physicalRange
    guard range.upperBound.rawValue > range.lowerBound.rawValue else { return nil }
    return range.lowerBound.rawValue...(range.upperBound.rawValue &- 1)
  }
}
