import PageTables
import Testing

/// The Contiguous hint (bit 52): naturally aligned runs are written with it, and a
/// run is broken as a whole before part of it is unmapped.
@Suite struct ARM64ContiguousTests {
  static let contiguousBit: UInt64 = 1 << 52

  /// The raw entries of `count` leaves of `size` bytes from `virtualAddress`.
  func entries<Memory: TableMemory>(
    _ table: PageTable<ARM64Format, Memory>, _ virtualAddress: UInt64, _ count: Int, _ size: UInt64
  ) -> [UInt64?] {
    (0..<UInt64(count)).map { table.translate(virtualAddress + $0 * size)?.entry }
  }

  @Test(arguments: [(ARM64Format.Granule.k4, 16), (.k16, 128), (.k64, 32)])
  func naturallyAlignedRunSetsTheContiguousBitOnEveryMember(
    _ granule: ARM64Format.Granule, _ run: Int
  ) throws {
    let table = try makeTable(try ARM64Format(granule: granule))
    let page = granule.bytes
    let runBytes = page * UInt64(run)
    let va = runBytes * 4
    let pa = runBytes * 8
    try table.map(
      virtualAddress: va, physicalAddress: pa, size: runBytes * 2, protection: .readWrite)
    for k in 0..<UInt64(run * 2) {
      let found = try #require(table.translate(va + k * page + 3))
      #expect(found.entry & Self.contiguousBit != 0, "member \(k)")
      #expect(found.physicalAddress == pa + k * page + 3)
      #expect(found.pageSize == page)
      #expect(found.protection == .readWrite)
    }
    try unmapAndFlush(table, va, runBytes * 2)
    #expect(table.memory.liveTables == 1)
  }

  @Test func misalignedShortOrDisabledRangesGetNoContiguousBit() throws {
    let format = try ARM64Format(granule: .k4)
    // (virtual, physical, pages): VA off by a page, PA off by a page, one page short.
    let ranges: [(UInt64, UInt64, Int)] = [
      (0x10_1000, 0x20_0000, 16), (0x10_0000, 0x20_1000, 16), (0x10_0000, 0x20_0000, 15),
    ]
    for (va, pa, pages) in ranges {
      let table = try makeTable(format)
      try table.map(
        virtualAddress: va, physicalAddress: pa, size: UInt64(pages) * 4096, protection: .readWrite)
      let found = entries(table, va, pages, 4096)
      #expect(
        found.allSatisfy { $0 != nil && $0! & Self.contiguousBit == 0 },
        "0x\(String(va, radix: 16))")
      try unmapAndFlush(table, va, UInt64(pages) * 4096)
    }
    // 17 aligned pages: one run of 16, then a plain page.
    let table = try makeTable(format)
    try table.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x20_0000, size: 17 * 4096, protection: .readWrite
    )
    let bits = entries(table, 0x10_0000, 17, 4096).map { $0! & Self.contiguousBit != 0 }
    #expect(bits == Array(repeating: true, count: 16) + [false])
    try unmapAndFlush(table, 0x10_0000, 17 * 4096)
    // The option turns runs off.
    let plain = try PageTable(
      format: format, memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20),
      options: PageTableOptions(trapOnLeakedMappings: true, useContiguousRuns: false))
    try plain.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x20_0000, size: 16 * 4096, protection: .readWrite
    )
    #expect(entries(plain, 0x10_0000, 16, 4096).allSatisfy { $0! & Self.contiguousBit == 0 })
    try unmapAndFlush(plain, 0x10_0000, 16 * 4096)
  }

  @Test func unmappingOnePageBreaksTheWholeRunAndInvalidatesIt() throws {
    let table = try makeTable(try ARM64Format(granule: .k4))
    let va: UInt64 = 0x10_0000
    let pa: UInt64 = 0x20_0000
    try table.map(virtualAddress: va, physicalAddress: pa, size: 0x1_0000, protection: .readWrite)
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(try table.unmap(virtualAddress: va + 5 * 4096, size: 4096, gather: &gather) == 4096)
    table.flush(&gather)
    for k in 0..<UInt64(16) {
      #expect(gather.invalidator.covers(va + k * 4096), "the gather covers member \(k)")
      let found = table.translate(va + k * 4096 + 1)
      if k == 5 {
        #expect(found == nil)
      } else {
        #expect(found?.physicalAddress == pa + k * 4096 + 1)
        #expect(found.map { $0.entry & Self.contiguousBit } == 0, "survivor \(k) left the run")
      }
    }
    #expect(gather.invalidator.fullFlushes == 0)
    #expect(try unmapAndFlush(table, va, 0x1_0000) == 15 * 4096)
    #expect(table.memory.liveTables == 1)
  }

  @Test func unmappingAPageFromARunOfBlocksBreaksTheRunAndSplitsOneBlock() throws {
    let table = try makeTable(try ARM64Format(granule: .k4))
    let block: UInt64 = 2 << 20
    let va: UInt64 = 0x4000_0000
    let pa: UInt64 = 0x8000_0000
    try table.map(virtualAddress: va, physicalAddress: pa, size: 16 * block, protection: .readWrite)
    #expect(entries(table, va, 16, block).allSatisfy { $0! & Self.contiguousBit != 0 })
    let hole = va + 3 * block + 0x5000
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(try table.unmap(virtualAddress: hole, size: 4096, gather: &gather) == 4096)
    table.flush(&gather)
    #expect(gather.invalidator.covers(va) && gather.invalidator.covers(va + 16 * block - 1))
    #expect(table.translate(hole) == nil)
    #expect(table.translate(hole + 4096)?.physicalAddress == pa + 3 * block + 0x6000)
    #expect(table.translate(hole + 4096)?.pageSize == 4096)
    for k in 0..<UInt64(16) where k != 3 {
      let found = try #require(table.translate(va + k * block + 0x1234))
      #expect(found.physicalAddress == pa + k * block + 0x1234)
      #expect(found.pageSize == block)
      #expect(found.entry & Self.contiguousBit == 0, "block \(k) left the run")
    }
    #expect(try unmapAndFlush(table, va, 16 * block) == 16 * block - 4096)
    #expect(table.memory.liveTables == 1)
  }
}
