import Testing

@testable import PhysicalPages

@Suite struct PageLookupTests {
  @Test func virtToPageFindsThePageOfADirectMapAddress() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    let pointer = unsafe UnsafeRawPointer(page.unsafeMutableBytes) + 123
    #expect(try memory.withPage(directMapAddress: pointer) { $0.frameNumber } == page.frameNumber)
    let freeFrame = page.frameNumber + 1
    let freePointer = unsafe UnsafeRawPointer(page.unsafeMutableBytes) + 4096
    #expect(throws: PageError.pageNotAllocated(frame: freeFrame)) {
      try memory.withPage(directMapAddress: freePointer) { _ in }
    }
    let elsewhere = [UInt8](repeating: 0, count: 8)
    unsafe elsewhere.withUnsafeBytes { bytes in
      let address = UInt(bitPattern: bytes.baseAddress)
      #expect(throws: PageError.addressNotMapped(address: address)) {
        try memory.withPage(directMapAddress: bytes.baseAddress!) { _ in }
      }
    }
  }

  @Test func vmallocToPageFindsEachPageOfAVmallocBuffer() throws {
    let memory = try makeMemory()
    let buffer = try memory.vmalloc(byteCount: 4 * 4096)
    let base = unsafe UnsafeRawPointer(buffer.unsafeBaseAddress)
    for (position, frame) in buffer.frameNumbers.enumerated() {
      let found = try unsafe memory.withPage(vmallocAddress: base + position * 4096 + 17) {
        $0.frameNumber
      }
      #expect(found == frame)
    }
    let past = unsafe base + 4 * 4096
    #expect(throws: PageError.vmallocAddressNotMapped(address: UInt(bitPattern: past))) {
      try memory.withPage(vmallocAddress: past) { _ in }
    }
    let page = try memory.allocatePage()
    let direct = unsafe UnsafeRawPointer(page.unsafeMutableBytes)
    #expect(throws: PageError.addressNotMapped(address: UInt(bitPattern: direct))) {
      try memory.withPage(vmallocAddress: direct) { _ in }
    }
  }

  @Test func vmallocToPageFailsOnceTheBufferIsGone() throws {
    let memory = try makeMemory()
    let base: UInt
    do {
      let buffer = try memory.vmalloc(byteCount: 4096)
      base = UInt(bitPattern: unsafe buffer.unsafeBaseAddress)
    }
    let pointer = unsafe UnsafeRawPointer(bitPattern: base)!
    #expect(throws: PageError.vmallocAddressNotMapped(address: base)) {
      try memory.withPage(vmallocAddress: pointer) { _ in }
    }
  }

  @Test func pageSliceToPageFindsDirectMapAndVmallocPages() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    let buffer = try memory.vmalloc(byteCount: 2 * 4096)
    let direct = unsafe UnsafeRawBufferPointer(start: page.unsafeMutableBytes, count: 4096)
    #expect(try memory.withPage(slice: direct) { $0.frameNumber } == page.frameNumber)
    let second = unsafe UnsafeRawBufferPointer(
      start: buffer.unsafeBaseAddress + 4096, count: 4096)
    #expect(try memory.withPage(slice: second) { $0.frameNumber } == buffer.frameNumbers[1])

    let misaligned = unsafe UnsafeRawBufferPointer(
      start: page.unsafeMutableBytes + 8, count: 4096)
    #expect(
      throws: PageError.misalignedPointer(
        address: UInt(bitPattern: unsafe page.unsafeMutableBytes) + 8)
    ) {
      try memory.withPage(slice: misaligned) { _ in }
    }
    let short = unsafe UnsafeRawBufferPointer(start: page.unsafeMutableBytes, count: 100)
    #expect(
      throws: PageError.wrongSliceSize(
        address: UInt(bitPattern: unsafe page.unsafeMutableBytes), count: 100)
    ) {
      try memory.withPage(slice: short) { _ in }
    }
    let other = try makeMemory()
    let foreign = try other.allocatePage()
    let foreignSlice = unsafe UnsafeRawBufferPointer(start: foreign.unsafeMutableBytes, count: 4096)
    #expect(
      throws: PageError.addressNotMapped(
        address: UInt(bitPattern: unsafe foreign.unsafeMutableBytes))
    ) {
      try memory.withPage(slice: foreignSlice) { _ in }
    }
  }
}
