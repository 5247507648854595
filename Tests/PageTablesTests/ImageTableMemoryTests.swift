import PageTables
import Testing

/// `ImageTableMemory`: what it refuses at creation, and what its bookkeeping costs.
@Suite struct ImageTableMemoryTests {
  @Test func anImageThatWrapsTheAddressSpaceIsRefusedAtCreation() {
    #expect(throws: ImageTableMemoryError.wrapsAddressSpace(base: 0 &- 0x2000, byteCount: 0x4000)) {
      _ = try ImageTableMemory(base: 0 &- 0x2000, byteCount: 0x4000)
    }
    let error = ImageTableMemoryError.wrapsAddressSpace(base: 0 &- 0x2000, byteCount: 0x4000)
    #expect(error.description.contains("0xffffffffffffe000"))
  }

  @Test func anImageEndingAtTheTopOfTheAddressSpaceIsAccepted() throws {
    let image = try ImageTableMemory(base: 0 &- 0x4000, byteCount: 0x4000)
    #expect(image.allocateTable(byteCount: 4096) == 0 &- 0x4000)
    #expect(image.allocateTable(byteCount: 4096) == 0 &- 0x3000)
  }

  @Test func sizesThatAreNotWholePagesAreRefused() {
    for byteCount in [0, -4096, 4095, 4097] {
      #expect(throws: ImageTableMemoryError.notWholePages(byteCount: byteCount)) {
        _ = try ImageTableMemory(base: 0x4000_0000, byteCount: byteCount)
      }
    }
  }

  /// The bookkeeping words grow with the part of the image handed out: a 256 MiB
  /// image holding one table costs one 4 KiB segment (it used to cost 32 MiB,
  /// zero-filled up front), and mapping 64 MiB of 4 KiB pages costs about a
  /// quarter of the tables' bytes at most.
  @Test func bookkeepingGrowsWithTheTablesNotTheImage() throws {
    let table = try PageTable(
      format: ToyFormat(runLength: 1),
      memory: ImageTableMemory(base: 0x4000_0000, byteCount: 256 << 20))
    #expect(table.memory.bookkeepingBytes == 4096)
    try table.map(
      virtualAddress: 1 << 30, physicalAddress: 0x8000_1000, size: 64 << 20,
      protection: .readWrite)
    let used = table.memory.usedBytes
    #expect(used >= 32 * 4096, "32 leaf tables")
    #expect(table.memory.bookkeepingBytes <= used / 4 + 4096)
    #expect(table.translate((1 << 30) + (63 << 20))?.physicalAddress == 0x8000_1000 + (63 << 20))
    try unmapAndFlush(table, 1 << 30, 64 << 20)
  }
}
