import Testing

@testable import PhysicalPages

@Suite struct PageAccessTests {
  @Test func bytesWrittenAreReadBackEveryWay() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage(zeroed: true)
    try page.write([1, 2, 3, 4], at: 100)
    #expect(try page.read(at: 100, count: 4) == [1, 2, 3, 4])
    try page.storeBytes(of: UInt64(0x1122_3344_5566_7788), at: 3)
    #expect(try page.load(as: UInt64.self, at: 3) == 0x1122_3344_5566_7788)
    let source: [UInt8] = [9, 8, 7]
    try unsafe page.copy(from: source.span.bytes, at: 4093)
    #expect(try page.read(at: 4093, count: 3) == [9, 8, 7])
    try unsafe page.write(source.span.bytes, at: 0)
    #expect(page.withBytes { unsafe $0.unsafeLoad(fromByteOffset: 1, as: UInt8.self) } == 8)
    page.withMappedBytes { bytes in
      bytes.storeBytes(of: UInt16(0xbeef), toByteOffset: 200, as: UInt16.self)
    }
    #expect(try page.load(as: UInt16.self, at: 200) == 0xbeef)
    try page.withPointer(into: 300, count: 2) { buffer in
      unsafe buffer.storeBytes(of: UInt16(7), as: UInt16.self)
    }
    #expect(try page.load(as: UInt16.self, at: 300) == 7)
    try page.fillZero(100..<104)
    #expect(try page.read(at: 100, count: 4) == [0, 0, 0, 0])
    page.fillZero()
    #expect(try page.read(at: 0, count: 4096).allSatisfy { $0 == 0 })
  }

  @Test func accessOutsideThePageIsATypedErrorNamingTheFrame() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    let frame = page.frameNumber
    #expect(throws: PageError.outOfBounds(frame: frame, offset: 4093, count: 4, limit: 4096)) {
      try page.read(at: 4093, count: 4)
    }
    #expect(throws: PageError.outOfBounds(frame: frame, offset: -1, count: 1, limit: 4096)) {
      try page.write([1], at: -1)
    }
    #expect(throws: PageError.outOfBounds(frame: frame, offset: 4089, count: 8, limit: 4096)) {
      try page.load(as: UInt64.self, at: 4089)
    }
    #expect(throws: PageError.outOfBounds(frame: frame, offset: 4095, count: 2, limit: 4096)) {
      try page.storeBytes(of: UInt16(1), at: 4095)
    }
    #expect(throws: PageError.outOfBounds(frame: frame, offset: 4000, count: 100, limit: 4096)) {
      try page.fillZero(4000..<4100)
    }
    #expect(throws: PageError.outOfBounds(frame: frame, offset: 0, count: 4097, limit: 4096)) {
      try page.withPointer(into: 0, count: 4097) { _ in }
    }
    let source = [UInt8](repeating: 1, count: 10)
    #expect(throws: PageError.outOfBounds(frame: frame, offset: 4090, count: 10, limit: 4096)) {
      try unsafe page.copy(from: source.span.bytes, at: 4090)
    }
    #expect(throws: PageError.outOfBounds(frame: frame, offset: 0, count: -1, limit: 4096)) {
      try page.read(at: 0, count: -1)
    }
  }

  @Test func aBlockIsAccessibleAcrossAllItsPages() throws {
    let memory = try makeMemory()
    let block = try memory.allocatePages(order: 2)
    try block.write([0xaa], at: 4 * 4096 - 1)
    #expect(try block.read(at: 4 * 4096 - 1, count: 1) == [0xaa])
    #expect(throws: PageError.self) { try block.read(at: 4 * 4096, count: 1) }
  }

  @Test func writesThroughThePageAreVisibleThroughTheDirectMap() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    try page.storeBytes(of: UInt32(0x5a5a_1234), at: 8)
    let pointer = try unsafe memory.directMapAddress(of: page.physicalAddress)
    #expect(unsafe pointer.load(fromByteOffset: 8, as: UInt32.self) == 0x5a5a_1234)
  }
}
