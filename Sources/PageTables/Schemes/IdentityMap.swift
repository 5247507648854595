/// A ready-made mapping scheme: every mapped virtual address equals its physical
/// address (aarch64-paging's `IdMap`), over any format and table memory.
///
/// Boot code, firmware and hypervisors use it to turn the MMU on without moving:
///
/// ```swift
/// let idmap = try IdentityMap(
///   format: ARM64Format(granule: .k4, inputBits: 39),
///   memory: ImageTableMemory(base: 0x4400_0000, byteCount: 1 << 20))
/// try idmap.map(0x4000_0000, size: 0x4000_0000, protection: Protection(write: true, execute: true))
/// try idmap.map(0x0900_0000, size: 0x1000, protection: Protection(write: true, memoryType: .device))
/// let registers = try idmap.table.stage1Activation().registers   // MAIR, TCR, TTBR0
/// ```
///
/// Regions are widened to whole pages (the start rounded down, the end up, as
/// aarch64-paging does), and each is mapped with the largest leaves its alignment
/// allows. Unmapping, translating and walking go through ``table``.
public struct IdentityMap<Format: PageTableFormat, Memory: TableMemory> {
  /// The table the scheme maps into (activate it with its format's activation values).
  public let table: PageTable<Format, Memory>

  /// An empty identity map in new tables.
  public init(format: Format, memory: Memory, options: PageTableOptions = PageTableOptions())
    throws(PageTableError)
  {
    self.table = try PageTable(format: format, memory: memory, options: options)
  }

  /// An identity map that adds to an existing table.
  public init(table: PageTable<Format, Memory>) { self.table = table }

  /// Maps the pages covering `[address, address + size)` to themselves, all or
  /// nothing.
  /// - Returns: what was mapped (`address` and `size` widened to whole pages).
  /// - Throws: ``PageTableError/zeroSize``, ``PageTableError/addressOverflow(address:size:)``
  ///   for a region that wraps, and whatever ``PageTable/map(virtualAddress:physicalAddress:size:protection:)``
  ///   throws (a region outside the virtual windows or the output size, an existing
  ///   mapping, no table memory, an unsupported protection).
  @discardableResult
  public func map(_ address: UInt64, size: UInt64, protection: Protection)
    throws(PageTableError) -> MappingRun
  {
    let pages = try table.pagesCovering(address, size: size)
    try table.map(
      virtualAddress: pages.start, physicalAddress: pages.start, size: pages.size,
      protection: protection)
    return MappingRun(
      virtualAddress: pages.start, physicalAddress: pages.start, size: pages.size,
      protection: protection)
  }
}

extension PageTable {
  /// The whole pages covering `[address, address + size)`; the range may end at
  /// 2^64.
  func pagesCovering(_ address: UInt64, size: UInt64) throws(PageTableError)
    -> (start: UInt64, size: UInt64)
  {
    guard size != 0 else { throw .zeroSize }
    let mask = granule &- 1
    let last = address &+ (size &- 1)
    guard last >= address else { throw .addressOverflow(address: address, size: size) }
    let start = address & ~mask
    return (start, (last | mask) &- start &+ 1)
  }
}
