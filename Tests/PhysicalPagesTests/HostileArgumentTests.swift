import Testing

@testable import PhysicalPages

/// Every public page-layer entry point, given the most hostile values of its
/// arguments, answers with a typed error: nothing traps, nothing is reserved.
@Suite struct HostileArgumentTests {
  static let hugeCounts = [Int.max, Int.max - 4095, 1 << 50, 1 << 40, (64 << 20) + 1]

  @Test(arguments: hugeCounts)
  func vmallocOfMoreThanTheMachineHoldsIsRefusedBeforeReservingAnything(_ byteCount: Int) throws {
    let memory = try makeMemory()  // 16 MiB of RAM, 4 MiB vmalloc area
    #expect(throws: PageError.exceedsMachine(byteCount: byteCount, limit: 1024 * 4096)) {
      _ = try memory.vmalloc(byteCount: byteCount)
    }
    #expect(
      unsafe memory.core.vmalloc.withAnnotatedLock { unsafe $0.base } == nil,
      "the vmalloc area must not even be reserved")
    #expect(memory.statistics().pagesInUse == 0)
  }

  @Test func vmallocLimitIsTheSmallerOfRAMAndTheArea() throws {
    let memory = try makeMemory(pages: 16, vmallocPages: 1 << 20)
    #expect(throws: PageError.exceedsMachine(byteCount: 17 * 4096, limit: 16 * 4096)) {
      _ = try memory.vmalloc(byteCount: 17 * 4096)
    }
    #expect(throws: PageError.invalidByteCount(Int.min)) {
      _ = try memory.vmalloc(byteCount: Int.min)
    }
    // All of RAM fits the limit, but a spacer-free exhaustion still fails cleanly.
    let all = try memory.vmalloc(byteCount: 16 * 4096)
    #expect(all.pageCount == 16)
  }

  /// A vmalloc area larger than the host's address space is accepted lazily and
  /// reported as a failed reservation, not a crash (the slot table is sparse).
  @Test func aHugeVmallocAreaFailsItsReservationWithATypedError() throws {
    let memory = try PhysicalMemory(configuration: .init(vmallocAreaByteCount: 1 << 62))
    #expect(throws: PageError.self) { _ = try memory.vmalloc(byteCount: 4096) }
    #expect(memory.leakReport().isEmpty)
    memory.drainThreadCache()
    #expect(memory.statistics().pagesInUse == 0)
  }

  @Test(arguments: [Int.min, -1, PhysicalMemory.maxOrder + 1, Int.max])
  func allocatingABlockOfAnImpossibleOrderIsRefused(_ order: Int) throws {
    let memory = try makeMemory()
    #expect(throws: PageError.invalidOrder(order)) { _ = try memory.allocatePages(order: order) }
  }

  @Test func configurationsAtTheLimitsAreRefused() {
    let cases: [(PhysicalMemory.Configuration, PageError)] = [
      (.init(byteCount: Int.max), .invalidMemorySize(Int.max)),
      (.init(byteCount: Int.min), .invalidMemorySize(Int.min)),
      (.init(byteCount: (1 << 31 + 1) * 4096), .invalidMemorySize((1 << 31 + 1) * 4096)),
      (.init(pageSize: 0), .invalidPageSize(0)),
      (.init(pageSize: Int.min), .invalidPageSize(Int.min)),
      (
        .init(baseAddress: PhysicalAddress(UInt64.max &- 0x3F_FFFF)),
        .misalignedBaseAddress(PhysicalAddress(UInt64.max &- 0x3F_FFFF))
      ),
      (
        .init(baseAddress: PhysicalAddress(0 &- 0x40_0000), byteCount: 8 << 20),
        .misalignedBaseAddress(PhysicalAddress(0 &- 0x40_0000))
      ),
      (.init(vmallocAreaByteCount: Int.min), .invalidVmallocAreaSize(Int.min)),
      (.init(vmallocAreaByteCount: Int.max), .invalidVmallocAreaSize(Int.max)),
    ]
    for (configuration, error) in cases {
      #expect(throws: error) { _ = try PhysicalMemory(configuration: configuration) }
    }
  }

  @Test func pageAccessorsRefuseFarApartAndNegativeRanges() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    #expect(throws: PageError.self) { try page.fillZero(Int.min..<Int.max) }
    #expect(throws: PageError.self) { try page.fillZero(-1..<Int.max) }
    #expect(throws: PageError.self) { try page.fillZero(4095..<4097) }
    #expect(throws: PageError.self) { _ = try page.read(at: Int.max, count: Int.max) }
    #expect(throws: PageError.self) { _ = try page.read(at: 1, count: Int.max) }
    #expect(throws: PageError.self) { _ = try page.read(at: Int.min, count: 1) }
    #expect(throws: PageError.self) { try page.write([1], at: Int.max) }
    #expect(throws: PageError.self) { _ = try page.load(as: UInt64.self, at: 4089) }
    #expect(throws: PageError.self) { try page.storeBytes(of: UInt64(1), at: Int.min) }
    #expect(throws: PageError.self) { try page.withPointer(into: Int.max, count: 1) { _ in } }
    var buffer = try memory.vmalloc(byteCount: 10)
    #expect(throws: PageError.self) { _ = try buffer.read(at: Int.max, count: Int.max) }
    #expect(throws: PageError.self) { try buffer.write([1], at: Int.min) }
  }

  @Test func lookupsOfAddressesOutsideRAMAreRefused() throws {
    let memory = try makeMemory()
    for address: UInt64 in [
      0, UInt64.max, 0x8000_0000 - 4096, 0x8000_0000 + (16 << 20), 0x8000_0001,
    ] {
      #expect(throws: PageError.self) { try memory.withPage(at: PhysicalAddress(address)) { _ in } }
      #expect(throws: PageError.self) {
        _ = try unsafe Page(fromPhysicalAddress: PhysicalAddress(address), in: memory)
      }
      #expect(throws: PageError.self) { _ = try memory.frameNumber(of: PhysicalAddress(address)) }
    }
    for frame: UInt64 in [0, UInt64.max, UInt64.max >> 12, 0x8000_0 + 4096] {
      #expect(throws: PageError.self) { _ = try memory.physicalAddress(ofFrame: frame) }
    }
    for pointer: UInt in [1, UInt.max, UInt.max - 4095] {
      guard let raw = unsafe UnsafeRawPointer(bitPattern: pointer) else { continue }
      #expect(throws: PageError.self) { _ = try memory.physicalAddress(ofDirectMapAddress: raw) }
      #expect(throws: PageError.self) { try memory.withPage(directMapAddress: raw) { _ in } }
      #expect(throws: PageError.self) { try memory.withPage(vmallocAddress: raw) { _ in } }
      #expect(throws: PageError.self) {
        try unsafe memory.withPage(slice: UnsafeRawBufferPointer(start: raw, count: 4096)) { _ in }
      }
    }
    #expect(throws: PageError.self) {
      try unsafe memory.withPage(slice: UnsafeRawBufferPointer(start: nil, count: 0)) { _ in }
    }
  }
}
