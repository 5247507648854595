import PageTables

/// A minimal format for testing the engine on its own: 4 KiB pages, three levels
/// of 512 entries (39-bit zero-based VA), leaves at every level, a contiguous run
/// of 4 entries at the page level, and a dirty bit.
///
/// Entry bits: 0 valid, 1 leaf (else table), 2 write, 3 user, 4 contiguous,
/// 5 dirty, 6 execute, [47:12] address.
struct ToyFormat: PageTableFormat {
  var runLength = 4
  /// Index bits of the root: 11 makes a 16 KiB root table (larger than a 4 KiB page).
  var rootIndexBits = 9
  /// The rule for replacing live entries (ARM64's break-before-make, or not).
  var liveEntryRule: LiveEntryRule = .replaceThenInvalidate
  /// A geometry to use instead of the toy's own (to test the engine's checks).
  var customGeometry: Geometry?
  var geometry: Geometry {
    customGeometry
      ?? Geometry(
        levels: [
          LevelGeometry(shift: 30, indexBits: rootIndexBits, allowsLeaf: true),
          LevelGeometry(shift: 21, indexBits: 9, allowsLeaf: true),
          LevelGeometry(shift: 12, indexBits: 9, allowsLeaf: true, contiguousRun: runLength),
        ], windows: [VirtualWindow(first: 0, last: (1 << UInt64(30 + rootIndexBits)) - 1)],
        outputBits: 48)
  }
  static let addressMask: UInt64 = 0x0000_FFFF_FFFF_F000

  func kind(of entry: UInt64, level: Int) -> EntryKind {
    entry & 1 == 0 ? .empty : (entry & 2 != 0 || level == 2 ? .leaf : .table)
  }
  func tableEntry(pointingTo physicalAddress: UInt64, level: Int) -> UInt64 { physicalAddress | 1 }
  func tableAddress(of entry: UInt64, level: Int) -> UInt64 { entry & Self.addressMask }
  func leafTemplate(for p: Protection, level: Int) throws(PageTableError) -> UInt64 {
    guard p.read, p.memoryType == .normal, !p.global else { throw .unsupportedProtection(p) }
    return 0b11 | (p.write ? 4 : 0) | (p.user ? 8 : 0) | (p.execute ? 64 : 0)
  }
  func leafEntry(template: UInt64, physicalAddress: UInt64, level: Int) -> UInt64 {
    template | physicalAddress
  }
  func outputAddress(of entry: UInt64, level: Int, virtualAddress: UInt64) -> UInt64 {
    (entry & Self.addressMask) | (virtualAddress & ((1 << UInt64(30 - 9 * level)) - 1))
  }
  func protection(of entry: UInt64, level: Int) -> Protection {
    Protection(read: true, write: entry & 4 != 0, execute: entry & 64 != 0, user: entry & 8 != 0)
  }
  func contiguousEntry(_ entry: UInt64, level: Int, runAddress: UInt64) -> UInt64 { entry | 16 }
  func isContiguous(_ entry: UInt64, level: Int) -> Bool { entry & 16 != 0 }
  func breakingContiguity(_ entry: UInt64, level: Int, physicalAddress: UInt64) -> UInt64 {
    entry & ~16
  }
  var tracksDirtyState: Bool { true }
  func isDirty(_ entry: UInt64, level: Int) -> Bool { entry & 32 != 0 }
  func cleaned(_ entry: UInt64, level: Int) -> UInt64 { entry & ~32 }
  func carryingState(of old: UInt64, level oldLevel: Int, into new: UInt64, level: Int) -> UInt64 {
    new | (old & 32)
  }
}

extension FormatCases {
  /// The engine's own test format runs the whole suite too.
  static var toy: [FormatCase] {
    [
      FormatCase(
        "Toy 4K 3-level",
        protections: [.readWrite, .readOnly, Protection(execute: true, user: true)]
      ) { ToyFormat() }
    ]
  }
}
