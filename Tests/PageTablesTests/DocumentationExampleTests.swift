import Foundation
import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// The README's and the DocC catalogs' examples, line for line, with their comments
/// turned into expectations. If one stops compiling or passing, its document is wrong.
@Suite struct DocumentationExampleTests {
  /// The README's TLB invalidator, as written there.
  struct PrintingTLB: TLBInvalidator {
    mutating func invalidateAll() { print("invalidate everything") }
    mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
      print("invalidate \(ValueText.hex(start)), \(ValueText.size(size))")
    }
  }

  @Test func theReadmeExampleRunsAsWritten() throws {
    let ram = try PhysicalMemory()  // 64 MiB at 0x8000_0000, 4 KiB pages
    let table = try PageTable(
      format: ARM64Format(granule: .k4, inputBits: 48), physicalMemory: ram)

    // One 2 MiB block and four 4 KiB pages.
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x20_0000,
      protection: .readWrite)
    try table.map(
      virtualAddress: 0x40_0000, physicalAddress: 0x8040_0000, size: 0x4000,
      protection: Protection(execute: true, user: true))

    #expect("\(table.translate(0x20_1234)!)" == "0x8020_1234 (2 MiB leaf at level 2, rw-)")
    #expect(
      table.dump().map(\.description) == [
        "0x20_0000..0x40_0000 -> 0x8020_0000 (2 MiB, rw-)",
        "0x40_0000..0x40_4000 -> 0x8040_0000 (16 KiB, r-x user)",
      ])

    var gather = TLBGather(invalidator: RecordingTLB())
    try table.unmap(virtualAddress: 0x20_0000, size: 0x20_0000, gather: &gather)
    try table.unmap(virtualAddress: 0x40_0000, size: 0x4000, gather: &gather)
    table.flush(&gather)  // invalidate, then free the emptied tables
    #expect(gather.invalidator.covers(0x20_0000) && gather.invalidator.covers(0x40_3FFF))
    #expect(table.dump().isEmpty)

    // A GPU buffer mapped by a table that holds it until the unmap is invalidated.
    let gpu = try OwningPageTable(format: AppleUATFormat(), physicalMemory: ram)
    let buffer = try ram.allocatePages(order: 2, zeroed: true)  // 16 KiB, owned
    let bufferAddress = buffer.physicalAddress
    try gpu.map(buffer, at: 0x1_0000_0000, protection: Protection(write: true, user: true))
    #expect(
      "\(gpu.table.translate(0x1_0000_0010)!)"
        == "\(ValueText.hex(bufferAddress.rawValue + 0x10)) (16 KiB leaf at level 2, rw- user)")
    var gpuGather = PageGather(releasingPagesAfter: PrintingTLB())
    try gpu.unmap(virtualAddress: 0x1_0000_0000, size: 0x4000, gather: &gpuGather)
    gpu.flush(&gpuGather)  // invalidated, then the buffer's pages are freed
    #expect(!ram.leakReport().entries.contains { $0.physicalAddress == bufferAddress })

    // A table page's lifecycle by hand: hand it out as a physical address, take it back once.
    let address = try ram.allocatePage(zeroed: true).intoPhysicalAddress()
    let page = try unsafe Page(fromPhysicalAddress: address, in: ram)
    #expect(page.physicalAddress == address)  // freed when `page` goes
  }

  /// The README's example block is `Examples/Adopter/Sources/Adopter/main.swift`,
  /// which CI builds against a tagged copy of the package and runs as a program.
  @Test func theReadmeExampleIsTheAdopterProgram() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    let program = try String(
      contentsOf: root.appendingPathComponent("Examples/Adopter/Sources/Adopter/main.swift"),
      encoding: .utf8)
    let example = try #require(readme.components(separatedBy: "## Example\n").last)
    let block = try #require(example.components(separatedBy: "```swift\n").dropFirst().first)
    let code = try #require(block.components(separatedBy: "```").first)
    #expect(code == program)
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

  /// The second example in `Sources/PageTables/PageTables.docc/PageTables.md`.
  @Test func thePageTablesCatalogActivationExampleRunsAsWritten() throws {
    let idmap = try IdentityMap(
      format: ARM64Format(granule: .k4, inputBits: 39),
      memory: ImageTableMemory(base: 0x4400_0000, byteCount: 1 << 20),
      options: PageTableOptions(leakReporter: { _ in }))
    try idmap.map(0x4000_0000, size: 1 << 30, protection: Protection(write: true, execute: true))
    let registers = try idmap.table.stage1Activation(asid: 1).registers  // MAIR, TCR, TTBR0, TTBR1
    #expect(idmap.table.translate(0x4000_1234)?.physicalAddress == 0x4000_1234)
    #expect(registers.map(\.value)[2] == 1 << 48 | idmap.table.rootAddress())
    #expect(registers.map(\.value)[1] & 0x3F == 25)  // T0SZ = 64 - 39
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
