/// One level of a page-table format's tree. Level 0 is the root.
///
/// A level's table has `1 << indexBits` entries of 8 bytes; entry `i` covers the
/// virtual range `[i << shift, (i + 1) << shift)` relative to the table's start, so a
/// leaf (block or page) at this level maps `1 << shift` bytes.
public struct LevelGeometry: Hashable, Sendable {
  /// The lowest virtual-address bit of this level's index.
  public var shift: Int
  /// How many virtual-address bits this level's index has.
  public var indexBits: Int
  /// Whether an entry at this level may be a leaf (a page or a block).
  public var allowsLeaf: Bool
  /// Entries in one contiguous run at this level (ARM64 contiguous hint, RISC-V
  /// Svnapot), or 1 where the format has none.
  public var contiguousRun: Int

  /// A level whose entries each map `1 << shift` bytes, indexed by `indexBits` bits of
  /// the virtual address.
  public init(shift: Int, indexBits: Int, allowsLeaf: Bool, contiguousRun: Int = 1) {
    self.shift = shift
    self.indexBits = indexBits
    self.allowsLeaf = allowsLeaf
    self.contiguousRun = contiguousRun
  }

  /// Bytes mapped by one leaf entry at this level.
  @inlinable public var leafSize: UInt64 { 1 << UInt64(shift) }
  /// Entries in one table of this level.
  @inlinable public var entryCount: Int { 1 << indexBits }
  /// Bytes of one table of this level.
  @inlinable public var tableBytes: Int { entryCount * 8 }
  /// Bytes of virtual address space one table of this level covers.
  @inlinable public var coverage: UInt64 {
    indexBits + shift >= 64 ? 0 : 1 << UInt64(indexBits + shift)
  }
}

/// A window of virtual addresses a table translates, inclusive at both ends.
public struct VirtualWindow: Hashable, Sendable {
  /// The lowest address of the window.
  public var first: UInt64
  /// The highest address of the window (inclusive, so a window can end at `UInt64.max`).
  public var last: UInt64
  /// The window `[first, last]`, both ends included.
  public init(first: UInt64, last: UInt64) {
    self.first = first
    self.last = last
  }
  /// Whether `address` lies in the window.
  @inlinable public func contains(_ address: UInt64) -> Bool { address >= first && address <= last }
}

/// The shape of a format's tree and the addresses it accepts.
///
/// The engine reads only this and the entry encoders of ``PageTableFormat``.
public struct Geometry: Hashable, Sendable {
  /// The levels from the root (index 0) down to the smallest page.
  public var levels: [LevelGeometry]
  /// Virtual windows the table translates (one for a zero-based space, two for a
  /// sign-extended one). An address outside every window is refused.
  public var windows: [VirtualWindow]
  /// Bits above the root's coverage that select one of several root tables (Apple
  /// DART's up-to-four TTBRs); 0 for a single root.
  public var rootSelectBits: Int
  /// Physical (output) address bits.
  public var outputBits: Int
  /// The size (and alignment) of a root table when the hardware wants more than its
  /// indexed entries: Apple UAT's root is a whole 16 KiB page although only 8 of its
  /// entries translate. 0 means exactly the root level's entries.
  public var minimumRootBytes: Int

  /// A tree of `levels` (root first) translating `windows`, with `outputBits`-bit
  /// physical addresses; see the properties for `rootSelectBits` and `minimumRootBytes`.
  public init(
    levels: [LevelGeometry], windows: [VirtualWindow], rootSelectBits: Int = 0, outputBits: Int,
    minimumRootBytes: Int = 0
  ) {
    self.levels = levels
    self.windows = windows
    self.rootSelectBits = rootSelectBits
    self.outputBits = outputBits
    self.minimumRootBytes = minimumRootBytes
  }

  /// Bytes allocated for each root table (a power of two).
  public var rootTableBytes: Int { max(levels[0].tableBytes, minimumRootBytes) }

  /// The smallest page size (the last level's leaf size).
  public var granule: UInt64 { levels[levels.count - 1].leafSize }
  /// Virtual-address bits a root table covers.
  public var rootCoverageBits: Int { levels[0].shift + levels[0].indexBits }
  /// How many root tables there are.
  public var rootCount: Int { 1 << rootSelectBits }
  /// Every leaf size the format can map, largest first.
  public var leafSizes: [UInt64] { levels.filter { $0.allowsLeaf }.map { $0.leafSize } }

  /// Checks the geometry is one the engine can walk (``PageTable``'s initializer
  /// calls it, so a custom format's mistake is refused before anything is made).
  ///
  /// - Throws: ``PageTableError/invalidConfiguration(_:)`` naming the rule broken.
  func validate() throws(PageTableError) {
    func refuse(_ rule: String) -> PageTableError { .invalidConfiguration("Geometry: " + rule) }
    guard !levels.isEmpty && levels.count <= 6 else { throw refuse("1 to 6 levels") }
    guard levels[levels.count - 1].allowsLeaf else { throw refuse("the last level maps pages") }
    for i in 0..<levels.count {
      let level = levels[i]
      guard
        level.indexBits >= 1 && level.indexBits <= 24 && level.shift >= 0
          && level.shift + level.indexBits <= 64
      else {
        throw refuse(
          "level \(i) indexes 1 to 24 bits of the virtual address, all below bit 64")
      }
      let run = level.contiguousRun
      guard run >= 1 && run <= 128 && run & (run - 1) == 0 && run <= level.entryCount else {
        throw refuse("level \(i)'s contiguous run is a power of two from 1 to 128 entries")
      }
      if i > 0 && levels[i - 1].allowsLeaf && !level.allowsLeaf {
        throw refuse("level \(i) allows leaves, as the level above does (blocks split into it)")
      }
      if i > 0 && level.shift + level.indexBits != levels[i - 1].shift {
        throw refuse("level \(i) must index exactly the bits below level \(i - 1)")
      }
    }
    guard rootSelectBits >= 0 && rootSelectBits <= 2 else { throw refuse("at most 4 roots") }
    guard rootCoverageBits + rootSelectBits <= 64 else { throw refuse("index bits fit 64") }
    guard !windows.isEmpty && windows.count <= 2 && windows.allSatisfy({ $0.first <= $0.last })
    else { throw refuse("one or two windows, each first <= last") }
    guard outputBits >= 1 && outputBits <= 64 else { throw refuse("1 to 64 output bits") }
    guard
      minimumRootBytes >= 0 && minimumRootBytes <= 1 << 20
        && minimumRootBytes & (minimumRootBytes - 1) == 0
    else { throw refuse("minimumRootBytes is 0 or a power of two up to 1 MiB") }
  }
}
