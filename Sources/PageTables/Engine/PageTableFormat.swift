/// What an entry holds, as far as the generic algorithms care.
public enum EntryKind: Sendable {
  /// Not valid: the hardware faults here. The engine writes 0 for empty entries.
  case empty
  /// Points at the next level's table.
  case table
  /// Maps a page or a block.
  case leaf
}

/// A hardware page-table format: the geometry and how one 64-bit entry encodes a
/// table, a leaf, its output address and its permissions. Nothing else.
///
/// The algorithms (map, unmap, translate, walk, free, dirty tracking) are written
/// once in ``PageTable`` against this description; adding a format never touches
/// them. A format value carries its configuration (granule, address sizes, stage)
/// and must be cheap to copy; every requirement is called on hot paths, so keep
/// them small and free of allocation.
public protocol PageTableFormat: Sendable {
  /// The tree's shape and the addresses it accepts.
  var geometry: Geometry { get }

  /// Classifies an entry found at `level`.
  func kind(of entry: UInt64, level: Int) -> EntryKind

  /// The entry that points at a table of level `level + 1` at `physicalAddress`.
  func tableEntry(pointingTo physicalAddress: UInt64, level: Int) -> UInt64
  /// The physical address of the table a table entry at `level` points at.
  func tableAddress(of entry: UInt64, level: Int) -> UInt64

  /// The attribute bits of a leaf at `level` for `protection` (everything but the
  /// output address), computed once per `map` call.
  /// - Throws: ``PageTableError/unsupportedProtection(_:)`` if the format cannot
  ///   express `protection`.
  func leafTemplate(for protection: Protection, level: Int) throws(PageTableError) -> UInt64
  /// A leaf at `level` mapping `physicalAddress` with `template`'s attributes.
  func leafEntry(template: UInt64, physicalAddress: UInt64, level: Int) -> UInt64
  /// The physical address a leaf at `level` translates `virtualAddress` to
  /// (including the offset inside the page or block, and inside a contiguous run).
  func outputAddress(of entry: UInt64, level: Int, virtualAddress: UInt64) -> UInt64
  /// The protection a leaf grants (the inverse of ``leafTemplate(for:level:)``).
  func protection(of entry: UInt64, level: Int) -> Protection

  /// A member of a contiguous run at `level` (``LevelGeometry/contiguousRun`` > 1),
  /// from the plain leaf `entry` for that member; `runAddress` is the physical
  /// address of the run's first byte.
  func contiguousEntry(_ entry: UInt64, level: Int, runAddress: UInt64) -> UInt64
  /// Whether a leaf is a member of a contiguous run.
  func isContiguous(_ entry: UInt64, level: Int) -> Bool
  /// A run member turned back into a plain leaf that maps `physicalAddress`.
  func breakingContiguity(_ entry: UInt64, level: Int, physicalAddress: UInt64) -> UInt64

  /// Whether leaves of this format carry hardware dirty state.
  var tracksDirtyState: Bool { get }
  /// Whether the hardware has written through this leaf since it was last cleaned.
  func isDirty(_ entry: UInt64, level: Int) -> Bool
  /// The leaf with its dirty state cleaned (still writable where it was).
  func cleaned(_ entry: UInt64, level: Int) -> UInt64

  /// How a live entry may be replaced by one of another size or kind (a block by a
  /// table when a block is split, a contiguous run by plain leaves), or by a leaf
  /// whose change ``replacementNeedsBreak(_:_:level:)`` reports. The default is
  /// ``LiveEntryRule/replaceThenInvalidate``.
  var liveEntryRule: LiveEntryRule { get }
  /// Whether changing the live leaf `old` into `new` at `level` (same output address
  /// and size, as `protect` does) must go through an invalid entry under
  /// ``LiveEntryRule/breakBeforeMake`` (ARM64: a change of memory type,
  /// shareability, nG or the contiguous bit). The default is `false`: the new leaf
  /// is written over the old one and the TLB invalidated afterwards.
  func replacementNeedsBreak(_ old: UInt64, _ new: UInt64, level: Int) -> Bool
  /// `new` (a leaf at `level` just encoded from a protection) with the state of the
  /// leaf `old` at `oldLevel` carried over: what the hardware manages (accessed,
  /// dirty). Software bits, attribute index and accessed policy are part of the
  /// ``Protection`` (decoded from the block, or given to `protect`), so they are
  /// not carried. Used when a block is
  /// split (`oldLevel` is the block's, `new` one of its smaller leaves), a run is
  /// broken, and by `protect`, so no write the hardware recorded is lost. The
  /// default returns `new` (a format without such state).
  func carryingState(of old: UInt64, level oldLevel: Int, into new: UInt64, level: Int) -> UInt64
}

extension PageTableFormat {
  public func contiguousEntry(_ entry: UInt64, level: Int, runAddress: UInt64) -> UInt64 { entry }
  public func isContiguous(_ entry: UInt64, level: Int) -> Bool { false }
  public func breakingContiguity(_ entry: UInt64, level: Int, physicalAddress: UInt64) -> UInt64 {
    entry
  }
  public var tracksDirtyState: Bool { false }
  public func isDirty(_ entry: UInt64, level: Int) -> Bool { false }
  public func cleaned(_ entry: UInt64, level: Int) -> UInt64 { entry }
  public var liveEntryRule: LiveEntryRule { .replaceThenInvalidate }
  public func replacementNeedsBreak(_ old: UInt64, _ new: UInt64, level: Int) -> Bool { false }
  public func carryingState(of old: UInt64, level oldLevel: Int, into new: UInt64, level: Int)
    -> UInt64
  { new }
}
