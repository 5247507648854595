import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// The README's example, line for line, with its comments turned into expectations.
/// If this stops compiling or passing, the README is wrong.
@Suite struct ReadmeExampleTests {
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
}
