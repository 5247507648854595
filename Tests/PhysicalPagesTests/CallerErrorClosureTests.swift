import Testing

@testable import PhysicalPages

/// Closures given to the borrowing APIs may use plain `try` and throw the caller's
/// own errors; the lookups' own failures stay `PageError`.
@Suite struct CallerErrorClosureTests {
  struct Corrupt: Error, Equatable { let tag: UInt32 }

  @Test func aClosureWithPlainTryCompilesAndReturnsItsValue() throws {
    let memory = try makeMemory()
    let address = try memory.allocatePage(zeroed: true).intoPhysicalAddress()
    defer { _ = try? unsafe Page(fromPhysicalAddress: address, in: memory) }
    let tag = try memory.withPage(at: address) { page in
      try page.storeBytes(of: UInt32(7), at: 0)
      return try page.load(as: UInt32.self, at: 0)
    }
    #expect(tag == 7)
  }

  @Test func theCallersOwnErrorComesOutUnchanged() throws {
    let memory = try makeMemory()
    let address = try memory.allocatePage(zeroed: true).intoPhysicalAddress()
    defer { _ = try? unsafe Page(fromPhysicalAddress: address, in: memory) }
    #expect(throws: Corrupt(tag: 0)) {
      try memory.withPage(at: address) { (page: borrowing Page) throws(Corrupt) in
        throw Corrupt(tag: 0)
      }
    }
    #expect(throws: Corrupt(tag: 0)) {
      try memory.withPage(at: address) { page in
        let tag = try page.load(as: UInt32.self, at: 0)
        if tag == 0 { throw Corrupt(tag: tag) }
      }
    }
  }

  @Test func aLookupThatFailsStillThrowsPageError() throws {
    let memory = try makeMemory()
    let free = memory.physicalRange.upperBound + 0x1000
    #expect(throws: PageError.self) {
      try memory.withPage(at: free) { (_: borrowing Page) throws(Corrupt) in }
    }
  }

  @Test func everyLookupAndThePointerAcceptTheCallersErrors() throws {
    let memory = try makeMemory()
    var buffer = try memory.vmalloc(byteCount: 8192)
    let base = unsafe UnsafeRawPointer(buffer.unsafeBaseAddress)
    #expect(throws: Corrupt(tag: 1)) {
      try memory.withPage(vmallocAddress: base) { _ in throw Corrupt(tag: 1) }
    }
    #expect(throws: Corrupt(tag: 2)) {
      try unsafe memory.withPage(slice: UnsafeRawBufferPointer(start: base, count: 4096)) { _ in
        throw Corrupt(tag: 2)
      }
    }
    let page = try memory.allocatePage()
    #expect(throws: Corrupt(tag: 3)) {
      try unsafe memory.withPage(directMapAddress: page.unsafeMutableBytes) { _ in
        throw Corrupt(tag: 3)
      }
    }
    #expect(throws: Corrupt(tag: 4)) {
      try page.withPointer(into: 0, count: 8) { _ in throw Corrupt(tag: 4) }
    }
    try buffer.write([1], at: 0)
  }

  /// A typed caller keeps its typed error: this compiles only if the `PageError`
  /// overloads are chosen for `PageError` closures.
  @Test func aPageErrorClosureKeepsTheTypedOverload() throws {
    let memory = try makeMemory()
    let address = try memory.allocatePage(zeroed: true).intoPhysicalAddress()
    defer { _ = try? unsafe Page(fromPhysicalAddress: address, in: memory) }
    func typed() throws(PageError) -> UInt8 {
      try memory.withPage(at: address) { (page: borrowing Page) throws(PageError) in
        try page.read(at: 0, count: 1)[0]
      }
    }
    #expect(try typed() == 0)
  }
}
