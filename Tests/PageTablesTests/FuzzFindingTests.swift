import PageTables
import PhysicalPageTables
import Testing

/// Regression tests for what the fuzzers found (`Fuzz/Corpus`, RELIABILITY.md).
@Suite struct FuzzFindingTests {
  /// `FuzzTableOperations-uat-mappings-left-after-window-unmap`: on Apple UAT's user
  /// window (which starts at its second 16 KiB page) the harness cut the window in
  /// half at a point that is not a page boundary, so both cleanup unmaps were
  /// refused as misaligned and the mappings stayed. The engine was right: it refuses
  /// that split and the aligned halves (and the whole window) remove everything.
  @Test func uatUserWindowUnmapsInPageAlignedHalves() throws {
    let format = try AppleUATFormat(addressSpace: .user, outputBits: 44)
    let window = try #require(format.geometry.windows.first)
    #expect(window.first == 0x4000)
    let memory = FaultInjectingTableMemory(
      try ImageTableMemory(base: 0x4000_0000, byteCount: 8 << 20))
    let table = try PageTable(format: format, memory: memory)
    // The finding's operations that changed the table.
    try table.map(
      virtualAddress: 0x1_c000, physicalAddress: 0xd37_8000, size: 0x8000, protection: .readWrite)
    try table.map(
      virtualAddress: 0x2_4000,
      segments: [PhysicalSegment(physicalAddress: 0x3367_0000, size: 0x1_0000)],
      protection: .readWrite)
    #expect(table.dump().reduce(0) { $0 + $1.size } == 0x1_8000)

    var gather = TLBGather(invalidator: NoTLB())
    // The harness's old midpoint: half the window's size, 8 KiB off a page boundary.
    let unaligned = (window.last - window.first) / 2 + 1
    #expect(throws: PageTableError.misalignedSize(unaligned)) {
      try table.unmap(virtualAddress: window.first, size: unaligned, gather: &gather)
    }
    #expect(throws: PageTableError.misalignedVirtualAddress(window.first + unaligned)) {
      try table.unmap(
        virtualAddress: window.first + unaligned, size: window.last - window.first + 1 - unaligned,
        gather: &gather)
    }
    let half = unaligned / AppleUATFormat.pageSize * AppleUATFormat.pageSize
    let removed =
      try table.unmap(virtualAddress: window.first, size: half, gather: &gather)
      + table.unmap(
        virtualAddress: window.first + half, size: window.last - window.first + 1 - half,
        gather: &gather)
    table.flush(&gather)
    #expect(removed == 0x1_8000)
    #expect(table.dump().isEmpty)
    #expect(memory.liveTables == table.rootCount)
  }
}
