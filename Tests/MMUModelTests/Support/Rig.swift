import MMUModel
import PageTables

/// A page table on an image, with a model attached: what every checker test starts from.
struct Rig<Format: PageTableFormat> {
  let image: ImageTableMemory
  let mmu: MMU<Format, ImageTableMemory>
  let table: PageTable<Format, ObservedTableMemory<ImageTableMemory>>
  let space: AddressSpace

  init(
    _ format: Format, configuration: MMUConfiguration = MMUConfiguration(), asid: UInt16 = 1,
    imageBytes: Int = 32 << 20
  ) throws {
    image = try ImageTableMemory(base: 0x4000_0000, byteCount: imageBytes)
    mmu = try MMU(format: format, memory: image, configuration: configuration)
    table = try PageTable(
      format: format, memory: mmu.observing(image),
      options: PageTableOptions(trapOnLeakedMappings: true))
    space = mmu.attach(table, asid: asid)
  }

  /// Unmaps through a gather whose commands reach the model, and flushes.
  func unmapAndFlush(_ virtualAddress: UInt64, _ size: UInt64) throws {
    try MMUModelTests.unmapAndFlush(table, mmu, space, virtualAddress, size)
  }

  /// Unmaps through a gather whose commands go nowhere (the bug under test), and flushes.
  func unmapWithoutInvalidation(_ virtualAddress: UInt64, _ size: UInt64) throws {
    var gather = TLBGather(invalidator: DroppedInvalidations())
    try table.unmap(virtualAddress: virtualAddress, size: size, gather: &gather)
    table.flush(&gather)
  }

  /// Unmaps everything left and detaches the model (before the table goes away).
  func tearDown(_ mapped: [(UInt64, UInt64)]) throws {
    for (va, size) in mapped { try unmapAndFlush(va, size) }
    mmu.detach(space)
  }
}

/// A driver bug: an invalidator that forgets to invalidate.
struct DroppedInvalidations: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}

/// Where data pages live: far from the table image at 0x4000_0000.
let dataBase: UInt64 = 0x1_0000_0000

/// Unmaps `[virtualAddress, virtualAddress + size)` of `table` through a gather whose
/// commands reach `mmu` for `space`, and flushes: what a correct driver does.
func unmapAndFlush<Format: PageTableFormat, Memory: TableMemory, TableMemoryType: TableMemory>(
  _ table: PageTable<Format, TableMemoryType>, _ mmu: MMU<Format, Memory>, _ space: AddressSpace,
  _ virtualAddress: UInt64, _ size: UInt64
) throws {
  var gather = TLBGather(invalidator: mmu.invalidator(for: space))
  try table.unmap(virtualAddress: virtualAddress, size: size, gather: &gather)
  table.flush(&gather)
}
