import Testing

@testable import PhysicalPages

/// A page whose machine (the `PhysicalMemory` handle) is already gone.
private func pageOutlivingItsMachine() throws -> Page {
  let memory = try PhysicalMemory(configuration: .init(recordAllocationSites: true))
  return try memory.allocatePage()
}

@Suite struct DebugTests {
  @Test func writeAfterFreeIsDetectedWhenThePageIsReallocated() throws {
    let memory = try makeMemory(poison: true)
    let page = try memory.allocatePage()
    let frame = page.frameNumber
    let pointer = unsafe page.unsafeMutableBytes
    _ = consume page
    #expect(unsafe pointer.load(fromByteOffset: 0, as: UInt8.self) == 0x6b)
    unsafe pointer.storeBytes(of: 0x42, toByteOffset: 100, as: UInt8.self)
    #expect(throws: PageError.poisonOverwritten(frame: frame, offset: 100)) {
      _ = try memory.allocatePage()
    }
    #expect(memory.statistics().quarantinedPages == 1)
    let next = try memory.allocatePage()
    #expect(next.frameNumber != frame)
  }

  @Test func intactPoisonAllowsReallocationOfPagesAndBlocks() throws {
    let memory = try makeMemory(poison: true)
    for order in [0, 0, 3, 10, 3, 0] {
      let block = try memory.allocatePages(order: order, zeroed: order == 3)
      try block.write([1, 2, 3], at: block.byteCount - 3)
    }
    #expect(memory.statistics().quarantinedPages == 0)
  }

  @Test func leakReportListsAllocatedFramesAndTheirAllocationSites() throws {
    let memory = try makeMemory(sites: true)
    let line = #line + 1
    let page = try memory.allocatePage()
    let block = try memory.allocatePages(order: 2)
    let address = try memory.allocatePage().intoPhysicalAddress()
    let report = memory.leakReport()
    #expect(report.entries.count == 3)
    #expect(report.pageCount == 6)
    let entry = try #require(report.entries.first { $0.frameNumber == page.frameNumber })
    #expect(entry.allocationSite?.fileID == "PhysicalPagesTests/DebugTests.swift")
    #expect(entry.allocationSite?.line == line)
    #expect(report.entries.contains { $0.frameNumber == block.frameNumber && $0.order == 2 })
    #expect(report.entries.contains { $0.physicalAddress == address && $0.isHandedOut })
    #expect(report.description.contains("frame 0x\(String(page.frameNumber, radix: 16))"))
    #expect(report.description.contains("DebugTests.swift:\(line)"))
    _ = unsafe Page(uncheckedFromPhysicalAddress: address, in: memory)
  }

  @Test func pagesOutlivingTheirMachineStayValid() throws {
    let page = try pageOutlivingItsMachine()
    try page.write([5, 6, 7], at: 4000)
    #expect(try page.read(at: 4000, count: 3) == [5, 6, 7])
    #expect(page.referenceCount == 1)
  }

  @Test func tearingDownWithPagesAllocatedPrintsTheLeakReport() async {
    let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
      let page = try! pageOutlivingItsMachine()
      try! page.write([1], at: 0)
      precondition(try! page.read(at: 0, count: 1) == [1])
    }
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains("pages still allocated"))
    #expect(stderr.contains("frame 0x8"))
    #expect(stderr.contains("allocated at PhysicalPagesTests/DebugTests.swift"))
  }

  @Test func referenceCountUnderflowTrapsNamingTheFrame() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let memory = try! PhysicalMemory()
      let address = try! memory.allocatePage().intoPhysicalAddress()
      let first = unsafe Page(uncheckedFromPhysicalAddress: address, in: memory)
      let second = unsafe Page(uncheckedFromPhysicalAddress: address, in: memory)
      _ = consume first
      _ = consume second
    }
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains("reference count underflow: put_page on frame 0x8"))
  }

  @Test func doubleFreeTrapsNamingTheFrame() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let memory = try! PhysicalMemory()
      let page = try! memory.allocatePage()
      let index = page.index
      _ = page.intoPhysicalAddress()
      memory.core.release(index)
      memory.core.release(index)
    }
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains("double free: frame 0x8"))
  }
}
