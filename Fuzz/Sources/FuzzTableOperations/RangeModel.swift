import PageTables

/// The plain model a fuzzed table is checked against: non-overlapping mapped
/// ranges, each with its physical start and the protection `translate` reported.
struct RangeModel {
  struct Mapping {
    var virtualAddress: UInt64
    var size: UInt64
    var physicalAddress: UInt64
    var protection: Protection
  }

  private(set) var mappings: [Mapping] = []

  var totalBytes: UInt64 { mappings.reduce(0) { $0 + $1.size } }

  func overlaps(_ start: UInt64, _ size: UInt64) -> Bool {
    mappings.contains { $0.virtualAddress < start &+ size && start < $0.virtualAddress + $0.size }
  }

  /// Bytes of `[start, start + size)` that are mapped.
  func mappedBytes(_ start: UInt64, _ size: UInt64) -> UInt64 {
    mappings.reduce(0) { total, m in
      let low = max(m.virtualAddress, start)
      let high = min(m.virtualAddress + m.size, start &+ size)
      return high > low ? total + (high - low) : total
    }
  }

  /// What `address` translates to, if anything.
  func translate(_ address: UInt64) -> (physicalAddress: UInt64, protection: Protection)? {
    guard
      let m = mappings.first(where: {
        address >= $0.virtualAddress && address - $0.virtualAddress < $0.size
      })
    else { return nil }
    return (m.physicalAddress + (address - m.virtualAddress), m.protection)
  }

  mutating func add(_ mapping: Mapping) { mappings.append(mapping) }

  /// Removes `[start, start + size)`, keeping the parts of mappings outside it.
  mutating func remove(_ start: UInt64, _ size: UInt64) {
    let end = start &+ size
    var kept: [Mapping] = []
    for m in mappings {
      let mEnd = m.virtualAddress + m.size
      guard m.virtualAddress < end && start < mEnd else {
        kept.append(m)
        continue
      }
      if m.virtualAddress < start {
        kept.append(
          Mapping(
            virtualAddress: m.virtualAddress, size: start - m.virtualAddress,
            physicalAddress: m.physicalAddress, protection: m.protection))
      }
      if mEnd > end {
        kept.append(
          Mapping(
            virtualAddress: end, size: mEnd - end,
            physicalAddress: m.physicalAddress + (end - m.virtualAddress), protection: m.protection)
        )
      }
    }
    mappings = kept
  }
}
