/// An architecture's rule for replacing a valid entry the hardware may be using
/// (a block by a table, a contiguous run by plain leaves, a leaf by one with another
/// memory type).
///
/// ```swift
/// // ARM64 without FEAT_BBM level 2: a split block faults until the table is in.
/// let table = try PageTable(format: try ARM64Format(granule: .k4), memory: image)
/// // With FEAT_BBM level 2 declared, the block is replaced directly:
/// let relaxed = try PageTable(format: try ARM64Format(granule: .k4), memory: image,
///                             options: PageTableOptions(hasBBMLevel2: true))
/// ```
///
/// The engine never merges (a table is never replaced by a block), so only the
/// changes above occur. Either way the old translation is invalidated *during* the
/// operation, through the gather's invalidator, before the engine writes again.
public enum LiveEntryRule: Hashable, Sendable {
  /// Write the new entry over the old one, then invalidate the old translation
  /// before any entry below it changes. x86-64 (Intel SDM vol. 3A §4.10.2.3 and
  /// §4.10.4: a page-size change is followed by `INVLPG` before the smaller pages'
  /// attributes change, as Linux's `split_large_page` does), RISC-V (privileged
  /// spec, "Virtual Address Translation Process": a PTE change is made visible by
  /// `SFENCE.VMA`; old and new entries translate the same), the Apple formats
  /// (Asahi's driver writes entries, then a barrier and a ranged TLB invalidation).
  /// The range never faults.
  case replaceThenInvalidate
  /// Arm break-before-make (Arm ARM DDI 0487, D8.16.1 "Using break-before-make
  /// when updating translation table entries"): write an invalid entry, invalidate
  /// the TLB for its range (with completion), then write the new entry. Accesses to
  /// the range fault between the first and last write (the table's user retries
  /// them, as Linux does for its own page faults). With FEAT_BBM level 2
  /// (``PageTableOptions/hasBBMLevel2``) the engine uses
  /// ``replaceThenInvalidate`` for block and run changes instead.
  case breakBeforeMake
}
