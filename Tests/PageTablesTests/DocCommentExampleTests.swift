import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

@testable import PageTablesTools

/// The examples in the doc comments of `PhysicalPages`, `PhysicalPageTables` and
/// `PageTablesTools`, as written there (after a line or two that makes the names
/// they assume, such as `memory` or `page`), with what their comments claim checked.
@Suite struct DocCommentExampleTests {
  let memory: PhysicalMemory
  init() throws { memory = try PhysicalMemory() }

  /// `PhysicalMemory`'s headline example.
  @Test func physicalMemory() throws {
    let memory = try PhysicalMemory()  // 64 MiB of 4 KiB pages, ~1 ms
    let table = try memory.allocatePage(zeroed: true)  // a Page: owned, ~Copyable
    let address = table.intoPhysicalAddress()  // give it to hardware
    try memory.withPage(at: address) { page in  // borrow it back to edit
      try page.storeBytes(of: UInt64(0x1234_5003), at: 8)
    }
    let owned = try unsafe Page(fromPhysicalAddress: address, in: memory)
    #expect(try owned.load(as: UInt64.self, at: 8) == 0x1234_5003)
    _ = consume owned  // freed here
    #expect(memory.leakReport().isEmpty)
  }

  @Test func pageAndItsAccess() throws {
    let page = try memory.allocatePage(zeroed: true)
    try page.write([0xde, 0xad], at: 16)
    print(page.physicalAddress, page.frameNumber, page.byteCount)

    let first = page.withBytes { unsafe $0.unsafeLoad(as: UInt8.self) }
    page.withMappedBytes { bytes in
      bytes.storeBytes(of: UInt64(7), toByteOffset: 0, as: UInt64.self)
    }
    try page.withPointer(into: 8, count: 8) {
      unsafe $0.storeBytes(of: UInt64(1), as: UInt64.self)
    }
    #expect(first == 0)
    #expect(try page.read(at: 16, count: 2) == [0xde, 0xad])
    #expect(try page.load(as: UInt64.self, at: 0) == 7)
    #expect(try page.load(as: UInt64.self, at: 8) == 1)
  }

  @Test func closuresWithTheCallersOwnErrors() throws {
    let address = try memory.allocatePage(zeroed: true).intoPhysicalAddress()
    defer { _ = try? unsafe Page(fromPhysicalAddress: address, in: memory) }
    struct Corrupt: Error {}
    #expect(throws: Corrupt.self) {
      let tag = try memory.withPage(at: address) { page in
        let tag = try page.load(as: UInt32.self, at: 0)  // PageError
        guard tag != 0 else { throw Corrupt() }  // the caller's own error
        return tag
      }
      _ = tag
    }
  }

  @Test func pageErrorQuotesTheRealMessage() throws {
    var printed = ""
    do {
      try memory.withPage(at: 0x1000) { _ in }
    } catch {
      printed = "\(error)"  // physical address 0x1000 is outside RAM
    }
    #expect(printed == "physical address 0x1000 is outside RAM")
  }

  @Test func sharedPage() throws {
    let page = try memory.allocatePage()
    let shared = SharedPage(sharing: page)  // reference count 2
    let copy = shared  // same box: still 2
    #expect(copy.referenceCount == 2)
    _ = consume page  // 1: the block lives on in `shared`
    print(copy.referenceCount)
    #expect(copy.referenceCount == 1)
  }

  @Test func vmallocAndLookups() throws {
    var buffer = try memory.vmalloc(byteCount: 3 * 4096)
    try buffer.write([1, 2, 3], at: 4095)  // crosses a page boundary
    print(buffer.frameNumbers)  // not consecutive
    buffer.forEachPage { page in print(page.physicalAddress) }
    #expect(try buffer.read(at: 4095, count: 3) == [1, 2, 3])

    let small = try memory.vmalloc(byteCount: 10_000)  // 3 pages
    #expect(small.frameNumbers.count == 3)

    let lookup = try memory.vmalloc(byteCount: 8192)
    let second = unsafe lookup.unsafeBaseAddress + 4096
    let frame = try memory.withPage(vmallocAddress: second) { $0.frameNumber }
    #expect(frame == lookup.frameNumbers[1])
  }

  @Test func conversionsAndAddresses() throws {
    let frame = try memory.frameNumber(of: 0x8000_3000)  // 0x80003
    let address = try memory.physicalAddress(ofFrame: frame)  // 0x80003000
    let pointer = try unsafe memory.directMapAddress(of: address)
    #expect(frame == 0x80003 && address == PhysicalAddress(0x8000_3000))
    #expect(try unsafe memory.physicalAddress(ofDirectMapAddress: pointer) == address)

    let printed = PhysicalAddress(0x8000_1000)
    print(printed)  // 0x80001000
    #expect("\(printed)" == "0x80001000")
  }

  @Test func configurationStatisticsAndLeakReport() throws {
    var configuration = PhysicalMemory.Configuration.default
    configuration.byteCount = 64 << 30  // a 64 GiB machine costs only what is touched
    configuration.poisonFreedPages = true
    let memory = try PhysicalMemory(configuration: configuration)
    let page = try memory.allocatePage()

    memory.drainThreadCache()
    let stats = memory.statistics()
    print(stats.freeBlocksPerOrder, stats.allocatedPages, stats.highWaterMark)
    #expect(stats.allocatedPages == 1)

    let report = memory.leakReport()
    for entry in report.entries { print(entry.frameNumber, entry.allocationSite as Any) }
    #expect(report.entries.map(\.physicalAddress) == [page.physicalAddress])
  }

  @Test func tablesOnPhysicalPages() throws {
    let ram = try PhysicalMemory()
    let table = try PageTable(
      format: ARM64Format(granule: .k4, inputBits: 48),
      memory: PhysicalPageTableMemory(ram))

    let page = try ram.allocatePage(zeroed: true)
    try table.map(
      virtualAddress: 0x10_0000, physicalAddress: page.physicalAddress,
      size: 0x1000, protection: .readWrite)
    let address = table.translate(0x10_0123)?.pagePhysicalAddress  // PhysicalAddress?
    #expect(address == page.physicalAddress + 0x123)
    try unmapAndFlush(table, 0x10_0000, 0x1000)
  }

  @Test func owningPageTableAndPageGather() throws {
    let myTLB = RecordingTLB()
    let ram = try PhysicalMemory()
    let gpu = try OwningPageTable(format: AppleUATFormat(), physicalMemory: ram)
    let buffer = try ram.allocatePages(order: 2, zeroed: true)  // 16 KiB
    let bufferAddress = buffer.physicalAddress
    try gpu.map(buffer, at: 0x1_0000_0000, protection: .readWrite)  // the table owns it
    var gather = PageGather(releasingPagesAfter: myTLB)
    print(gather.invalidator.heldPages)  // 0
    #expect(gather.invalidator.heldPages == 0)
    try gpu.unmap(virtualAddress: 0x1_0000_0000, size: 0x4000, gather: &gather)
    gpu.flush(&gather)  // now it is freed
    #expect(!ram.leakReport().entries.contains { $0.physicalAddress == bufferAddress })

    try gpu.map(ram.allocatePages(order: 3), at: 0x10_0000, protection: .readWrite)
    var printed = ""
    do {
      try gpu.unmap(virtualAddress: 0x10_4000, size: 0x4000, gather: &gather)
    } catch .splitsMappedPage(let start, let size) {
      print("unmap the whole page at \(start) (\(size) bytes)")
      printed = "\(start) \(size)"
    } catch {
      print(error)
    }
    #expect(printed == "\(0x10_0000) \(0x8000)")
    try gpu.unmap(virtualAddress: 0x10_0000, size: 0x8000, gather: &gather)
    gpu.flush(&gather)
  }

  @Test func toolsExamples() throws {
    var random = SplitMix64(seed: 42)
    let page = random.next() % 512
    #expect(page < 512)
    print(PackageVersion.current)  // 0.1.0
    #expect(PackageVersion.current == "0.1.0")
    var lines: [String] = []
    try PageLayerDemo.run { lines.append($0) }
    #expect(!lines.isEmpty)
  }

  /// `ConformanceSuite`'s example needs QEMU; `ConformanceTests` runs the suite.
  /// This only proves the example compiles.
  func conformanceSuiteExampleCompiles() throws {
    let summary = try ConformanceSuite.run(ConformanceOptions()) { print($0) }
    print(summary.report)  // configurations, addresses probed, mismatches
  }
}
