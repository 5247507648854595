/// A ready-made mapping scheme: virtual address = physical address + a fixed offset
/// (aarch64-paging's `LinearMap`), over any format and table memory.
///
/// A kernel's direct map of RAM in the upper half, for example:
///
/// ```swift
/// let offset = 0xffff_ff80_0000_0000 &- 0x4000_0000   // RAM at 0x4000_0000 appears at the top
/// let direct = try LinearMap(
///   format: ARM64Format(granule: .k4, inputBits: 39, translationBase: .ttbr1),
///   memory: ImageTableMemory(base: 0x4400_0000, byteCount: 1 << 20), offset: offset)
/// try direct.map(physicalAddress: 0x4000_0000, size: 1 << 30, protection: .readWrite)
/// direct.virtualAddress(of: 0x4000_1234)                // 0xffff_ff80_0000_1234
/// let registers = try direct.table.stage1Activation().registers   // MAIR, TCR, TTBR1
/// ```
///
/// Physical regions are widened to whole pages (start down, end up) and mapped with
/// the largest leaves the alignment of both addresses allows; choose an offset
/// that is a multiple of the largest leaf to get blocks. Unmapping, translating
/// and walking go through ``table``.
public struct LinearMap<Format: PageTableFormat, Memory: TableMemory> {
  /// The table the scheme maps into (activate it with its format's activation values).
  public let table: PageTable<Format, Memory>
  /// What is added (wrapping, so an upper-half window is a large value) to a physical
  /// address to get its virtual address.
  public let offset: UInt64

  /// An empty linear map in new tables.
  /// - Throws: ``PageTableError/misalignedVirtualAddress(_:)`` if `offset` is not a
  ///   multiple of the format's page size, and what ``PageTable/init(format:memory:options:)``
  ///   throws.
  public init(
    format: Format, memory: Memory, offset: UInt64, options: PageTableOptions = PageTableOptions()
  ) throws(PageTableError) {
    guard offset & (format.geometry.granule &- 1) == 0 else {
      throw .misalignedVirtualAddress(offset)
    }
    self.table = try PageTable(format: format, memory: memory, options: options)
    self.offset = offset
  }

  /// A linear map that adds to an existing table.
  /// - Throws: ``PageTableError/misalignedVirtualAddress(_:)`` for an unaligned offset.
  public init(table: PageTable<Format, Memory>, offset: UInt64) throws(PageTableError) {
    guard offset & (table.format.geometry.granule &- 1) == 0 else {
      throw .misalignedVirtualAddress(offset)
    }
    self.table = table
    self.offset = offset
  }

  /// The virtual address `physicalAddress` appears at.
  public func virtualAddress(of physicalAddress: UInt64) -> UInt64 { physicalAddress &+ offset }
  /// The physical address behind `virtualAddress` in this scheme (whether or not it
  /// is mapped).
  public func physicalAddress(of virtualAddress: UInt64) -> UInt64 { virtualAddress &- offset }

  /// Maps the pages covering `[physicalAddress, physicalAddress + size)` at
  /// `physicalAddress + offset`, all or nothing.
  /// - Returns: what was mapped (widened to whole pages).
  /// - Throws: ``PageTableError/zeroSize``, ``PageTableError/addressOverflow(address:size:)``
  ///   when the physical or the virtual range wraps, and whatever
  ///   ``PageTable/map(virtualAddress:physicalAddress:size:protection:)`` throws.
  @discardableResult
  public func map(physicalAddress: UInt64, size: UInt64, protection: Protection)
    throws(PageTableError) -> MappingRun
  {
    let pages = try table.pagesCovering(physicalAddress, size: size)
    let start = virtualAddress(of: pages.start)
    guard start &+ (pages.size &- 1) >= start else {
      throw .addressOverflow(address: start, size: pages.size)
    }
    try table.map(
      virtualAddress: start, physicalAddress: pages.start, size: pages.size,
      protection: protection)
    return MappingRun(
      virtualAddress: start, physicalAddress: pages.start, size: pages.size,
      protection: protection)
  }
}
