import PageTables

/// The mappings that differ between two walks: ranges mapped only on one side,
/// or mapped to another physical address or with another protection.
///
/// ```swift
/// let differences = MappingDiff.compare(before.runs, after.runs)
/// for difference in differences { print(difference) }
/// ```
///
/// Page sizes and the accessed and dirty flags are not compared: the same
/// translation built from other leaf sizes is the same mapping.
public enum MappingDiff {
  /// What one side maps at a range's start.
  public struct Side: Hashable, Sendable {
    /// The physical address of the range's first byte.
    public var physicalAddress: UInt64
    /// What the mapping allows.
    public var protection: Protection
  }

  /// One range whose mapping differs.
  public struct Difference: Hashable, Sendable, CustomStringConvertible {
    /// The first virtual address.
    public var virtualAddress: UInt64
    /// Bytes in the range.
    public var size: UInt64
    /// The first input's mapping, or `nil` where it maps nothing.
    public var first: Side?
    /// The second input's mapping, or `nil` where it maps nothing.
    public var second: Side?

    public var description: String {
      func text(_ side: Side?) -> String {
        guard let side else { return "unmapped" }
        return
          "\(hex(side.physicalAddress)) \(DumpReport.letters(side.protection)) \(side.protection.memoryType)"
      }
      let mark = first == nil ? "+" : second == nil ? "-" : "~"
      return
        "\(mark) \(hex(virtualAddress)) \(ValueText.size(size)): \(text(first)) | \(text(second))"
    }
  }

  /// The differences, in virtual-address order, adjacent ones merged.
  public static func compare(_ first: [DumpRun], _ second: [DumpRun]) -> [Difference] {
    let a = first.sorted { $0.virtualAddress < $1.virtualAddress }
    let b = second.sorted { $0.virtualAddress < $1.virtualAddress }
    var boundaries: [UInt64] = []
    for run in a + b {
      boundaries.append(run.virtualAddress)
      if run.lastVirtualAddress != .max { boundaries.append(run.lastVirtualAddress + 1) }
    }
    boundaries = Array(Set(boundaries)).sorted()
    var result: [Difference] = []
    var i = 0
    var j = 0
    for (k, start) in boundaries.enumerated() {
      let last = k + 1 < boundaries.count ? boundaries[k + 1] - 1 : UInt64.max
      while i < a.count && a[i].lastVirtualAddress < start { i += 1 }
      while j < b.count && b[j].lastVirtualAddress < start { j += 1 }
      let left = side(i < a.count ? a[i] : nil, at: start)
      let right = side(j < b.count ? b[j] : nil, at: start)
      guard left != right else { continue }
      if left == nil && right == nil { continue }
      let size = last &- start &+ 1
      if var previous = result.last, previous.virtualAddress &+ previous.size == start,
        continues(previous.first, left, previous.size),
        continues(previous.second, right, previous.size)
      {
        previous.size &+= size
        result[result.count - 1] = previous
      } else {
        result.append(Difference(virtualAddress: start, size: size, first: left, second: right))
      }
      if last == .max { break }
    }
    return result
  }

  /// What `run` maps at `address`, if it covers it.
  static func side(_ run: DumpRun?, at address: UInt64) -> Side? {
    guard let run, run.virtualAddress <= address, address <= run.lastVirtualAddress else {
      return nil
    }
    return Side(
      physicalAddress: run.physicalAddress &+ (address &- run.virtualAddress),
      protection: run.protection)
  }

  /// Whether `next` continues `previous` after `size` bytes.
  static func continues(_ previous: Side?, _ next: Side?, _ size: UInt64) -> Bool {
    switch (previous, next) {
    case (nil, nil): true
    case (let p?, let n?):
      p.protection == n.protection && p.physicalAddress &+ size == n.physicalAddress
    default: false
    }
  }
}
