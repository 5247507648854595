import CPageMemory
import Testing

@testable import PhysicalPages

@Suite struct PhysicalMemoryTests {
  /// Creation is cheap because it touches nothing: no buddy block is initialised and
  /// no descriptor page is resident. (Its time is measured by the benchmark
  /// "create a default machine" in Benchmarks/, not here.)
  @Test func defaultMachineTouchesNothingUntilUsed() throws {
    let machine = try PhysicalMemory()
    #expect(machine.frameCount == 16384)
    #expect(machine.physicalRange == PhysicalAddress(0x8000_0000)..<0x8400_0000)
    #expect(machine.core.buddy.withAnnotatedLock { $0.frontier } == 0)
    let descriptors = unsafe UnsafeMutableRawPointer(machine.core.descriptors)
    #expect(unsafe cpm_resident_pages(descriptors, machine.core.descriptorByteCount) == 0)
  }

  @Test func sixtyFourGiBMachineCostsOnlyWhatIsTouched() throws {
    let before = residentBytes()
    let machine = try PhysicalMemory(configuration: .init(byteCount: 64 << 30))
    #expect(machine.frameCount == 16 << 20)
    // The buddy initialised nothing, and no descriptor page is resident.
    #expect(machine.core.buddy.withAnnotatedLock { $0.frontier } == 0)
    let descriptors = unsafe UnsafeMutableRawPointer(machine.core.descriptors)
    #expect(unsafe cpm_resident_pages(descriptors, machine.core.descriptorByteCount) == 0)
    // Using one page carves one max-order block: a handful of descriptor pages.
    let page = try machine.allocatePage(zeroed: true)
    try page.write([1, 2, 3], at: 0)
    #expect(machine.core.buddy.withAnnotatedLock { $0.frontier } == 1 << PhysicalMemory.maxOrder)
    #expect(unsafe cpm_resident_pages(descriptors, machine.core.descriptorByteCount) <= 8)
    let after = residentBytes()
    // Touching every descriptor would cost 256 MiB (and the memfd far more); other
    // tests run concurrently and touch memory of their own, so the bound is loose.
    #expect(after - before < 200 << 20, "RSS grew by \(after - before) bytes")
  }

  @Test(arguments: [
    (PhysicalMemory.Configuration(pageSize: 8192), PageError.invalidPageSize(8192)),
    (PhysicalMemory.Configuration(byteCount: 4097), .invalidMemorySize(4097)),
    (PhysicalMemory.Configuration(byteCount: 0), .invalidMemorySize(0)),
    (PhysicalMemory.Configuration(baseAddress: 0x1000), .misalignedBaseAddress(0x1000)),
    (
      PhysicalMemory.Configuration(baseAddress: 0xffff_ffff_ffc0_0000, byteCount: 8 << 20),
      .misalignedBaseAddress(0xffff_ffff_ffc0_0000)
    ),
    (PhysicalMemory.Configuration(vmallocAreaByteCount: 100), .invalidVmallocAreaSize(100)),
  ])
  func invalidConfigurationIsATypedError(
    configuration: PhysicalMemory.Configuration, expected: PageError
  ) {
    #expect(throws: expected) { try PhysicalMemory(configuration: configuration) }
  }

  @Test(arguments: [4096, 16384, 65536])
  func everyPageSizeAllocatesAlignedPages(pageSize: Int) throws {
    let memory = try makeMemory(pages: 2048, pageSize: pageSize)
    let page = try memory.allocatePage()
    #expect(page.byteCount == pageSize)
    #expect(page.physicalAddress.rawValue % UInt64(pageSize) == 0)
    #expect(page.frameNumber == page.physicalAddress.rawValue / UInt64(pageSize))
    let block = try memory.allocatePages(order: 3)
    #expect(block.byteCount == pageSize * 8)
    #expect(block.physicalAddress.rawValue % UInt64(pageSize * 8) == 0)
  }

  @Test func conversionsBetweenAddressFrameAndDirectMapAreChecked() throws {
    let memory = try PhysicalMemory()
    #expect(try memory.frameNumber(of: 0x8000_3000) == 0x80003)
    #expect(try memory.physicalAddress(ofFrame: 0x80003) == 0x8000_3000)
    #expect(throws: PageError.addressOutsideRAM(0x7fff_f000)) {
      try memory.frameNumber(of: 0x7fff_f000)
    }
    #expect(throws: PageError.addressOutsideRAM(0x8400_0000)) {
      try memory.frameNumber(of: 0x8400_0000)
    }
    #expect(throws: PageError.misalignedAddress(0x8000_0010)) {
      try memory.frameNumber(of: 0x8000_0010)
    }
    #expect(throws: PageError.addressOutsideRAM(0x1000)) {
      try memory.physicalAddress(ofFrame: 1)
    }
    let page = try memory.allocatePage()
    let pointer = try unsafe memory.directMapAddress(of: page.physicalAddress)
    #expect(unsafe pointer == page.unsafeMutableBytes)
    let inside = unsafe pointer + 5
    #expect(try memory.physicalAddress(ofDirectMapAddress: inside) == page.physicalAddress + 5)
    let before = unsafe pointer - 0x400_0000  // RAM is 64 MiB: before the direct map
    #expect(throws: PageError.self) { try memory.physicalAddress(ofDirectMapAddress: before) }
  }

  @Test func physicalAddressPrintsInHex() {
    #expect(PhysicalAddress(0x8000_1000).description == "0x80001000")
    #expect(PhysicalAddress(1) < PhysicalAddress(2))
  }

  @Test func descriptorIsSixteenBytes() {
    #expect(MemoryLayout<PageDescriptor>.size == 16)
    #expect(PageDescriptor.privateWordOffset == 8)
  }

  @Test func errorMessagesNameTheFrame() {
    #expect(PageError.pageNotAllocated(frame: 0x80005).description.contains("frame 0x80005"))
    #expect(
      PageError.outOfBounds(frame: 0x80001, offset: 4095, count: 2, limit: 4096).description
        .contains("frame 0x80001"))
    #expect(PageError.addressOutsideRAM(0x10).description.contains("0x10"))
  }
}
