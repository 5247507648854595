import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// The README's and the DocC catalogs' examples, line for line, with their comments
/// turned into expectations. If one stops compiling or passing, its document is wrong.
@Suite struct DocumentationExampleTests {
  @Test func theReadmeExampleRunsAsWritten() throws {
    let myTLB = RecordingTLB()

    let ram = try PhysicalMemory()  // 64 MiB at 0x8000_0000, 4 KiB pages
    let table = try PageTable(
      format: ARM64Format(granule: .k4, inputBits: 48),
      physicalMemory: ram)

    // One 2 MiB block and four 4 KiB pages.
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
      size: 0x20_0000, protection: .readWrite)
    try table.map(
      virtualAddress: 0x40_0000, physicalAddress: 0x8040_0000,
      size: 0x4000, protection: Protection(execute: true, user: true))

    #expect(table.translate(0x20_1234)?.physicalAddress == 0x8020_1234)
    #expect(table.translate(0x20_1234)?.pageSize == 0x20_0000)
    #expect(table.dump().count == 2)  // merged runs, for printing

    var gather = TLBGather(invalidator: myTLB)  // your TLBI / INVLPG / SFENCE.VMA
    try table.unmap(virtualAddress: 0x20_0000, size: 0x20_0000, gather: &gather)
    table.flush(&gather)  // invalidate, then free emptied tables
    let invalidated = gather.invalidator
    #expect(invalidated.covers(0x20_0000) && invalidated.covers(0x3F_FFFF))

    let page = try ram.allocatePage(zeroed: true)  // an owned page
    let pa = page.intoPhysicalAddress()  // handed out: not freed
    let back = try unsafe Page(fromPhysicalAddress: pa, in: ram)  // taken back once
    #expect(back.physicalAddress == pa)

    try unmapAndFlush(table, 0x40_0000, 0x4000)
  }

  /// The example in `Sources/PageTables/PageTables.docc/PageTables.md`.
  @Test func thePageTablesCatalogExampleRunsAsWritten() throws {
    let table = try PageTable(
      format: RISCVFormat(.sv48),
      memory: ImageTableMemory(base: 0x8040_0000, byteCount: 1 << 20))
    try table.map(
      virtualAddress: 0x4000_0000, physicalAddress: 0x8000_0000,
      size: 1 << 30, protection: .readWrite)  // one gigapage
    let satp = try table.format.satp(rootAddress: table.rootAddress(), asid: 1)
    #expect(table.translate(0x4000_0000)?.pageSize == 1 << 30)
    #expect(satp >> 60 == 9 && (satp >> 44) & 0xFFFF == 1)
    #expect(satp & ((1 << 44) - 1) == table.rootAddress() >> 12)
    try unmapAndFlush(table, 0x4000_0000, 1 << 30)
  }

  /// The example in `Sources/PhysicalPages/PhysicalPages.docc/PhysicalPages.md`.
  @Test func thePhysicalPagesCatalogExampleRunsAsWritten() throws {
    let ram = try PhysicalMemory()  // 64 MiB at 0x8000_0000
    let page = try ram.allocatePage(zeroed: true)
    let address = page.intoPhysicalAddress()  // not freed: handed out
    try ram.withPage(at: address) { (page: borrowing Page) throws(PageError) in
      try page.write([1, 2, 3], at: 0)
    }
    let owned = try unsafe Page(fromPhysicalAddress: address, in: ram)  // back, once
    #expect(try owned.read(at: 0, count: 3) == [1, 2, 3])
  }

  /// The example in `Sources/PhysicalPageTables/PhysicalPageTables.docc/PhysicalPageTables.md`.
  @Test func thePhysicalPageTablesCatalogExampleRunsAsWritten() throws {
    let ram = try PhysicalMemory()
    let table = try PageTable(format: AppleUATFormat(), physicalMemory: ram)
    try table.map(
      virtualAddress: 0x1_0000_0000, physicalAddress: 0x8010_0000,
      size: 0x10_0000, protection: Protection(write: true, user: true))
    #expect(table.translate(0x1_0000_4000)?.physicalAddress == 0x8010_4000)
    try unmapAndFlush(table, 0x1_0000_0000, 0x10_0000)
  }
}
