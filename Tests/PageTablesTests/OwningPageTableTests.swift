import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// Mappings of owned pages: the table holds a reference on each mapped page until
/// the unmap's invalidation has been issued, so a mapped page cannot be freed.
@Suite struct OwningPageTableTests {
  /// Whether the block at `address` is allocated right now.
  func isAllocated(_ address: PhysicalAddress, in ram: PhysicalMemory) -> Bool {
    ram.leakReport().entries.contains { $0.physicalAddress == address }
  }

  @Test func aMappedPageStaysAllocatedUntilItsUnmapIsFlushed() throws {
    let ram = try PhysicalMemory()
    let gpu = try OwningPageTable(format: AppleUATFormat(), physicalMemory: ram)
    let buffer = try ram.allocatePages(order: 2, zeroed: true)
    let address = buffer.physicalAddress
    try gpu.map(buffer, at: 0x1_0000_0000, protection: .readWrite)  // the caller's value is gone
    #expect(isAllocated(address, in: ram))
    #expect(gpu.table.translate(0x1_0000_3008)?.physicalAddress == address + 0x3008)
    #expect(gpu.mappedPageCount == 1 && gpu.page(at: 0x1_0000_0000)?.physicalAddress == address)

    var gather = PageGather(releasingPagesAfter: RecordingTLB())
    #expect(try gpu.unmap(virtualAddress: 0x1_0000_0000, size: 0x4000, gather: &gather) == 0x4000)
    // Not yet invalidated: the gather still holds the page.
    #expect(gather.invalidator.heldPages == 1 && isAllocated(address, in: ram))
    #expect(gpu.table.translate(0x1_0000_0000) == nil)
    gpu.flush(&gather)
    #expect(gather.invalidator.base.covers(0x1_0000_0000))
    #expect(gather.invalidator.heldPages == 0 && !isAllocated(address, in: ram))
    #expect(gpu.mappedPageCount == 0)
  }

  /// An invalidator that notes, at each invalidation, whether a page is still
  /// allocated (it must be: pages are released only after their invalidation).
  struct WatchingTLB: TLBInvalidator {
    final class Log: @unchecked Sendable { var pageAllocatedAtInvalidation: [Bool] = [] }
    let log = Log()
    let watched: () -> Bool
    mutating func invalidateAll() { log.pageAllocatedAtInvalidation.append(watched()) }
    mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
      log.pageAllocatedAtInvalidation.append(watched())
    }
  }

  @Test func aDroppedGatherInvalidatesBeforeItReleasesThePages() throws {
    let ram = try PhysicalMemory()
    let gpu = try OwningPageTable(format: AppleUATFormat(), physicalMemory: ram)
    let page = try ram.allocatePages(order: 2)
    let address = page.physicalAddress
    try gpu.map(page, at: 0x2_0000_0000, protection: .readWrite)
    let tlb = WatchingTLB { isAllocated(address, in: ram) }
    do {
      var gather = PageGather(releasingPagesAfter: tlb)
      try gpu.unmap(virtualAddress: 0x2_0000_0000, size: 0x4000, gather: &gather)
      #expect(gather.invalidator.heldPages == 1)
    }  // dropped unflushed: it flushes itself
    #expect(tlb.log.pageAllocatedAtInvalidation == [true])
    #expect(!isAllocated(address, in: ram))
  }

  @Test func droppingEveryOtherOwnerOfAMappedSharedPageDoesNotFreeIt() throws {
    let ram = try PhysicalMemory()
    let gpu = try OwningPageTable(
      format: ARM64Format(granule: .k4, inputBits: 48), physicalMemory: ram)
    var shared: SharedPage? = SharedPage(try ram.allocatePage(zeroed: true))
    let address = shared!.physicalAddress
    try gpu.map(shared!, at: 0x40_0000, protection: .readWrite)
    shared = nil
    #expect(isAllocated(address, in: ram))
    // The next allocation cannot reuse the mapped page.
    let next = try ram.allocatePage()
    #expect(next.physicalAddress != address)
    #expect(gpu.table.translate(0x40_0000)?.physicalAddress == address)
    var gather = PageGather(releasingPagesAfter: RecordingTLB())
    try gpu.unmap(virtualAddress: 0, size: 1 << 30, gather: &gather)
    gpu.flush(&gather)
    #expect(!isAllocated(address, in: ram))
  }

  @Test func anUnmapThatCutsThroughAMappedPageIsRefusedAndChangesNothing() throws {
    let ram = try PhysicalMemory()
    let gpu = try OwningPageTable(format: AppleUATFormat(), physicalMemory: ram)
    try gpu.map(try ram.allocatePages(order: 3), at: 0x1_0000_0000, protection: .readWrite)
    var gather = PageGather(releasingPagesAfter: RecordingTLB())
    #expect(throws: PageMappingError.splitsMappedPage(virtualAddress: 0x1_0000_0000, size: 0x8000))
    {
      try gpu.unmap(virtualAddress: 0x1_0000_4000, size: 0x4000, gather: &gather)
    }
    #expect(gpu.table.translate(0x1_0000_4000) != nil && gather.invalidator.heldPages == 0)
    #expect(throws: PageMappingError.pageTable(.zeroSize)) {
      try gpu.unmap(virtualAddress: 0x1_0000_0000, size: 0, gather: &gather)
    }
    try gpu.unmap(virtualAddress: 0x1_0000_0000, size: 0x8000, gather: &gather)
    gpu.flush(&gather)
  }

  @Test func mappingOverAMappedPageIsRefusedAndKeepsNoReference() throws {
    let ram = try PhysicalMemory()
    let gpu = try OwningPageTable(
      format: ARM64Format(granule: .k4, inputBits: 48), physicalMemory: ram)
    try gpu.map(try ram.allocatePage(), at: 0x1000, protection: .readWrite)
    let second = try ram.allocatePage()
    let address = second.physicalAddress
    do {
      try gpu.map(second, at: 0x1000, protection: .readWrite)
      Issue.record("mapped twice at 0x1000")
    } catch {
      #expect(error == .alreadyMapped(virtualAddress: 0x1000))
    }
    #expect(!isAllocated(address, in: ram) && gpu.mappedPageCount == 1)
    var gather = PageGather(releasingPagesAfter: RecordingTLB())
    try gpu.unmap(virtualAddress: 0x1000, size: 0x1000, gather: &gather)
    gpu.flush(&gather)
  }

  /// `PhysicalAddress` and the engine's `UInt64` meet without `.rawValue`.
  @Test func physicalAddressesMeetTheEngineWithoutRawValue() throws {
    let ram = try PhysicalMemory()
    let table = try PageTable(format: ARM64Format(granule: .k4, inputBits: 48), physicalMemory: ram)
    let page = try ram.allocatePage(zeroed: true)
    try table.map(
      virtualAddress: 0x10_0000, physicalAddress: page.physicalAddress, size: 0x1000,
      protection: .readWrite)
    #expect(table.translate(0x10_0123)?.physicalAddress == page.physicalAddress + 0x123)
    #expect(page.physicalAddress + 0x123 == table.translate(0x10_0123)?.physicalAddress)
    #expect(table.translate(0x10_0123)?.pagePhysicalAddress == page.physicalAddress + 0x123)
    #expect(!(table.translate(0x20_0000)?.physicalAddress == page.physicalAddress))
    try unmapAndFlush(table, 0x10_0000, 0x1000)
  }
}
