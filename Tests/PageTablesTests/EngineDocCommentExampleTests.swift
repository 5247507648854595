import PageTables
import Testing

/// The examples in the engine's and the formats' doc comments, as written there
/// (after a line that makes the names they assume, such as `image` or `myTLB`), with
/// what their comments claim checked. Each cleans up its mappings.
@Suite struct EngineDocCommentExampleTests {
  let myTLB = RecordingTLB()

  @Test func pageTable() throws {
    let table = try PageTable(
      format: ARM64Format(granule: .k4, inputBits: 48),
      memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20))
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
      size: 0x20_0000, protection: .readWrite)  // one 2 MiB block
    #expect(table.translate(0x20_1234)?.physicalAddress == 0x8020_1234)
    var gather = TLBGather(invalidator: myTLB)
    try table.unmap(virtualAddress: 0x20_0000, size: 0x20_0000, gather: &gather)
    table.flush(&gather)  // TLBI, then free tables
    #expect(gather.invalidator.covers(0x20_0000))
  }

  @Test func exclusivePageTable() throws {
    var table = try ExclusivePageTable(
      format: ARM64Format(granule: .k4, inputBits: 48),
      memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20))
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
      size: 0x1000, protection: .readWrite)
    #expect(table.translate(0x20_0123)?.physicalAddress == 0x8020_0123)
    var gather = TLBGather(invalidator: myTLB)
    try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
    table.flush(&gather)  // invalidate, then free emptied tables
    #expect(gather.invalidator.covers(0x20_0000))
    #expect(table.memory.liveTables == 1, "the emptied tables were freed at the flush")
    let shared = table.shared()  // a PageTable again, for many threads
    var again = try ExclusivePageTable(consume shared)  // its only reference
    #expect(again.translate(0x20_0123) == nil)
    try again.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x1000,
      protection: .readWrite)
    var cleanup = TLBGather(invalidator: myTLB)
    try again.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &cleanup)
    again.flush(&cleanup)
  }

  @Test func exclusiveAccessError() throws {
    let table = try makeTable(ARM64Format(granule: .k4, inputBits: 48))
    let thread = table  // another holder
    var refused = false
    do {
      var owned = try ExclusivePageTable(consume table)  // the only reference
      try owned.map(
        virtualAddress: 0x4000_0000, physicalAddress: 0x8000_0000,
        size: 0x1000, protection: .readWrite)
    } catch ExclusiveAccessError.tableIsShared {
      // another reference (a thread, a TLBGather holding its tables) still exists
      refused = true
    }
    #expect(refused)
    #expect(thread.translate(0x4000_0000) == nil, "the refused table is unchanged")
  }

  @Test func tlbGatherMergesIntoOneInvalidation() throws {
    let table = try makeTable(ARM64Format(granule: .k4, inputBits: 48))
    let va: UInt64 = 0x4000_0000
    try table.map(
      virtualAddress: va, physicalAddress: 0x8000_0000, size: 0xC000, protection: .readWrite)
    var gather = TLBGather(invalidator: myTLB)
    try table.unmap(virtualAddress: va, size: 0x4000, gather: &gather)
    try table.unmap(virtualAddress: va + 0x8000, size: 0x4000, gather: &gather)
    table.flush(&gather)  // one invalidation, then the emptied tables are freed
    try unmapAndFlush(table, va, 0xC000)
  }

  @Test func scatterGatherAndSplit() throws {
    let table = try makeTable(ARM64Format(granule: .k4, inputBits: 48))
    let pages = [
      PhysicalSegment(physicalAddress: 0x8020_0000, size: 0x20_0000),  // a 2 MiB block
      PhysicalSegment(physicalAddress: 0x8000_3000, size: 0x1000),
    ]  // one page
    try table.map(virtualAddress: 0x4000_0000, segments: pages, protection: .readWrite)
    #expect(table.translate(0x4020_0000)?.physicalAddress == 0x8000_3000)
    try unmapAndFlush(table, 0x4000_0000, 0x20_1000)

    try table.map(
      virtualAddress: 0x4000_0000, physicalAddress: 0x8000_0000,
      size: 0x20_0000, protection: .readWrite)  // one 2 MiB block
    var gather = TLBGather(invalidator: myTLB)
    try table.split(at: 0x4010_0000, gather: &gather)  // 512 pages now
    table.flush(&gather)
    #expect(table.translate(0x4010_0000)?.pageSize == 0x1000)
    // Allocates nothing:
    try table.unmap(virtualAddress: 0x4010_0000, size: 0x10_0000, gather: &gather)
    table.flush(&gather)
    try unmapAndFlush(table, 0x4000_0000, 0x10_0000)
  }

  @Test func imageTableMemoryAndRISCV() throws {
    let image = try ImageTableMemory(base: 0x4010_0000, byteCount: 1 << 20)
    let table = try PageTable(format: RISCVFormat(.sv48), memory: image)
    try table.map(
      virtualAddress: 0, physicalAddress: 0x8000_0000, size: 1 << 30,
      protection: .readWrite)
    let bytes = image.bytes()  // load these at 0x4010_0000 and point satp at the root
    #expect(!bytes.isEmpty)
    let satp = try table.format.satp(rootAddress: table.rootAddress(), asid: 1)
    #expect(satp >> 60 == 9)
    try unmapAndFlush(table, 0, 1 << 30)
  }

  @Test func formatHeadlines() throws {
    let x86 = try X86_64Format(levels: 4)
    let x86Table = try PageTable(
      format: x86, memory: ImageTableMemory(base: 0x10_0000, byteCount: 1 << 20))
    try x86Table.map(
      virtualAddress: 0xffff_8000_0000_0000, physicalAddress: 0,
      size: 1 << 30, protection: .readWrite)  // one 1 GiB page
    let cr3 = try x86.cr3(rootAddress: x86Table.rootAddress())
    #expect(cr3 & ~0xFFF == x86Table.rootAddress())
    #expect(x86Table.translate(0xffff_8000_0000_0000)?.pageSize == 1 << 30)
    try unmapAndFlush(x86Table, 0xffff_8000_0000_0000, 1 << 30)

    let dart = try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32)  // 4 roots
    let dartTable = try PageTable(
      format: dart, memory: ImageTableMemory(base: 0x8_0000_0000, byteCount: 1 << 20))
    try dartTable.map(
      virtualAddress: 0xC000_0000, physicalAddress: 0x8_2000_0000,
      size: 0x1000, protection: .readWrite)
    let ttbr3 = dartTable.rootAddress(3)  // VA[31:30] = 3 selects the fourth TTBR
    #expect(dartTable.rootCount == 4 && ttbr3 != dartTable.rootAddress(0))
    try unmapAndFlush(dartTable, 0xC000_0000, 0x1000)

    let uat = try AppleUATFormat(addressSpace: .user, outputBits: 40)  // M1 (t8103)
    let uatTable = try PageTable(
      format: uat, memory: ImageTableMemory(base: 0x8_0000_0000, byteCount: 1 << 20))
    let buffer = Protection(write: true, user: true, memoryType: .uncached)  // PROT_GPU_SHARED_RW
    try uatTable.map(
      virtualAddress: 0x15_0000_0000, physicalAddress: 0x8_1234_4000,
      size: 0x4000, protection: buffer)
    _ = try AppleUATFormat.contextTableEntry(rootAddress: uatTable.rootAddress(), asid: 5)
    try unmapAndFlush(uatTable, 0x15_0000_0000, 0x4000)

    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let arm = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 40)
    let armTable = try PageTable(format: arm, memory: image)
    try armTable.map(
      virtualAddress: 0x4000_0000, physicalAddress: 0x8000_0000,
      size: 1 << 30, protection: .readWrite)  // one 1 GiB block
    #expect(armTable.translate(0x4000_0000)?.pageSize == 1 << 30)
    try unmapAndFlush(armTable, 0x4000_0000, 1 << 30)
  }

  @Test func protectionsAndRuns() {
    let data = Protection.readWrite  // kernel data
    let text = Protection(read: true, execute: true, user: true)  // user code
    #expect("\(data)" == "rw-" && "\(text)" == "r-x user")
    let run = MappingRun(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
      size: 0x20_0000, protection: .readWrite)
    print(run)  // 0x20_0000..0x40_0000 -> 0x8020_0000 (2 MiB, rw-)
    #expect("\(run)" == "0x20_0000..0x40_0000 -> 0x8020_0000 (2 MiB, rw-)")
  }
}
