import Testing

@testable import PhysicalPages

@Suite struct VmallocTests {
  @Test func vmallocWritesAreVisibleThroughTheDirectMapAndTheReverse() throws {
    let memory = try makeMemory()
    var buffer = try memory.vmalloc(byteCount: 3 * 4096)
    try buffer.write([1, 2, 3, 4], at: 4096 - 2)  // crosses into the second page
    let second = buffer.physicalAddresses[1]
    let first = buffer.physicalAddresses[0]
    #expect(
      try memory.withPage(at: first) { (page) throws(PageError) in try page.read(at: 4094, count: 2)
      } == [1, 2])
    #expect(
      try memory.withPage(at: second) { (page) throws(PageError) in try page.read(at: 0, count: 2) }
        == [3, 4])

    try memory.withPage(at: buffer.physicalAddresses[2]) { (page) throws(PageError) in
      try page.write([0xca, 0xfe], at: 10)
    }
    #expect(try buffer.read(at: 2 * 4096 + 10, count: 2) == [0xca, 0xfe])
    #expect(
      buffer.withBytes { unsafe $0.unsafeLoad(fromByteOffset: 2 * 4096 + 10, as: UInt8.self) }
        == 0xca)
    buffer.withMutableBytes { $0.storeBytes(of: UInt8(0x77), toByteOffset: 5, as: UInt8.self) }
    #expect(
      try memory.withPage(at: first) { (page) throws(PageError) in try page.read(at: 5, count: 1) }
        == [0x77])
  }

  @Test func vmallocPagesArePhysicallyScatteredAndIterable() throws {
    let memory = try makeMemory()
    let buffer = try memory.vmalloc(byteCount: 10_000)
    #expect(buffer.pageCount == 3)
    #expect(buffer.byteCount == 10_000)
    let frames = buffer.frameNumbers
    #expect(Set(frames).count == 3)
    #expect(!zip(frames, frames.dropFirst()).contains { $1 == $0 + 1 || $0 == $1 + 1 })
    var visited: [PhysicalAddress] = []
    buffer.forEachPage { page in visited.append(page.physicalAddress) }
    #expect(visited == buffer.physicalAddresses)
    #expect(memory.leakReport().entries.count == 3)
  }

  @Test func droppingAVmallocBufferFreesItsPagesAndRange() throws {
    let memory = try makeMemory(vmallocPages: 8)
    do {
      let buffer = try memory.vmalloc(byteCount: 8 * 4096)
      #expect(buffer.pageCount == 8)
      #expect(throws: PageError.vmallocAreaExhausted(byteCount: 4096)) {
        _ = try memory.vmalloc(byteCount: 1)
      }
    }
    #expect(memory.leakReport().isEmpty)
    let again = try memory.vmalloc(byteCount: 8 * 4096)
    #expect(again.pageCount == 8)
  }

  @Test func vmallocRejectsBadSizesAndBoundsErrors() throws {
    let memory = try makeMemory()
    #expect(throws: PageError.invalidByteCount(0)) { _ = try memory.vmalloc(byteCount: 0) }
    var buffer = try memory.vmalloc(byteCount: 100)
    #expect(throws: PageError.self) { try buffer.write([1, 2], at: 99) }
    #expect(throws: PageError.self) { try buffer.read(at: -1, count: 1) }
    #expect(try buffer.read(at: 0, count: 100) == Array(repeating: 0, count: 100))
  }
}
