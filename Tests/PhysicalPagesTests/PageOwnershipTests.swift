import Testing

@testable import PhysicalPages

@Suite struct PageOwnershipTests {
  @Test func droppingTheLastOwnerFreesThePage() throws {
    let memory = try makeMemory()
    let frame: UInt64
    do {
      let page = try memory.allocatePage()
      frame = page.frameNumber
      #expect(page.referenceCount == 1)
      #expect(memory.leakReport().frameNumbers == [frame])
    }
    #expect(memory.leakReport().isEmpty)
    let address = try memory.physicalAddress(ofFrame: frame)
    #expect(throws: PageError.pageNotAllocated(frame: frame)) {
      try memory.withPage(at: address) { _ in }
    }
  }

  @Test func intoPhysicalAddressKeepsThePageAndFromPhysicalAddressTakesItBackExactlyOnce()
    throws
  {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    let frame = page.frameNumber
    let address = page.intoPhysicalAddress()
    let entry = try #require(memory.leakReport().entries.first)
    #expect(entry.frameNumber == frame && entry.isHandedOut && entry.referenceCount == 1)
    let owned = try unsafe Page(fromPhysicalAddress: address, in: memory)
    #expect(owned.frameNumber == frame)
    #expect(memory.leakReport().entries.first?.isHandedOut == false)
    #expect(throws: PageError.notHandedOut(frame: frame)) {
      _ = try unsafe Page(fromPhysicalAddress: address, in: memory)
    }
    _ = consume owned
    #expect(memory.leakReport().isEmpty)
    #expect(throws: PageError.pageNotAllocated(frame: frame)) {
      _ = try unsafe Page(fromPhysicalAddress: address, in: memory)
    }
  }

  @Test func fromPhysicalAddressRejectsAnAddressNeverHandedOut() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    #expect(throws: PageError.notHandedOut(frame: page.frameNumber)) {
      _ = try unsafe Page(fromPhysicalAddress: page.physicalAddress, in: memory)
    }
    #expect(throws: PageError.addressOutsideRAM(0x10)) {
      _ = try unsafe Page(fromPhysicalAddress: 0x10, in: memory)
    }
    #expect(page.referenceCount == 1)
  }

  @Test func uncheckedFromPhysicalAddressRestoresOwnershipOfABlock() throws {
    let memory = try makeMemory()
    let address = try memory.allocatePages(order: 3).intoPhysicalAddress()
    let block = unsafe Page(uncheckedFromPhysicalAddress: address, in: memory)
    #expect(block.order == 3)
    #expect(block.physicalAddress == address)
    _ = consume block
    #expect(memory.leakReport().isEmpty)
  }

  @Test func checkedBorrowReportsOutsideMisalignedAndFreePages() throws {
    let memory = try makeMemory()
    #expect(throws: PageError.addressOutsideRAM(0x1000)) {
      try memory.withPage(at: 0x1000) { _ in }
    }
    #expect(throws: PageError.misalignedAddress(0x8000_0008)) {
      try memory.withPage(at: 0x8000_0008) { _ in }
    }
    #expect(throws: PageError.pageNotAllocated(frame: 0x80123)) {
      try memory.withPage(at: 0x8012_3000) { _ in }
    }
  }

  @Test func aBorrowedPageIsNotFreedWhenTheClosureEnds() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    let seen = try memory.withPage(at: page.physicalAddress) { (borrowed) throws(PageError) in
      try borrowed.storeBytes(of: UInt32(0xabcd), at: 4)
      return borrowed.frameNumber
    }
    #expect(seen == page.frameNumber)
    #expect(page.referenceCount == 1)
    #expect(try page.load(as: UInt32.self, at: 4) == 0xabcd)
    let viaUnchecked = unsafe memory.withPageUnchecked(at: page.physicalAddress) {
      $0.referenceCount
    }
    #expect(viaUnchecked == 1)
    #expect(memory.leakReport().frameNumbers == [page.frameNumber])
  }

  @Test func borrowingInsideABlockResolvesToTheWholeBlock() throws {
    let memory = try makeMemory()
    let block = try memory.allocatePages(order: 2)
    let (head, order) = try memory.withPage(at: block.physicalAddress + 3 * 4096) {
      ($0.physicalAddress, $0.order)
    }
    #expect(head == block.physicalAddress)
    #expect(order == 2)
  }

  @Test func sharedPageHoldsAReferenceUntilItsLastCopyGoes() throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    let address = page.physicalAddress
    let shared = SharedPage(sharing: page)
    #expect(page.referenceCount == 2)
    var copies = [shared, shared, shared]
    #expect(shared.referenceCount == 2)  // copies share one box, one reference
    _ = consume page
    #expect(shared.referenceCount == 1)
    #expect(try memory.withPage(at: address) { $0.frameNumber } == shared.frameNumber)
    let another = shared.withPage { SharedPage(sharing: $0) }
    #expect(another.referenceCount == 2)
    _ = consume another
    copies.removeAll()
    #expect(shared.referenceCount == 1)
    _ = consume shared
    #expect(memory.leakReport().isEmpty)
  }

  @Test func sharedPageFromAnOwnedPageTransfersItsReference() throws {
    let memory = try makeMemory()
    let shared = SharedPage(try memory.allocatePages(order: 1))
    #expect(shared.referenceCount == 1)
    #expect(shared.order == 1 && shared.byteCount == 8192)
    let box: SharedPage? = shared
    _ = consume shared
    #expect(memory.leakReport().entries.count == 1)
    _ = box
  }

  @Test func privateWordIsZeroAtAllocationAndBelongsToTheUser() throws {
    let memory = try makeMemory()
    do {
      let page = try memory.allocatePage()
      unsafe page.unsafePrivateWord.pointee.store(42, ordering: .relaxed)
      #expect(unsafe page.unsafePrivateWord.pointee.load(ordering: .relaxed) == 42)
    }
    let again = try memory.allocatePage()
    #expect(unsafe again.unsafePrivateWord.pointee.load(ordering: .relaxed) == 0)
  }

  @Test func pagesCanBeSentToAnotherThread() async throws {
    let memory = try makeMemory()
    let page = try memory.allocatePage()
    let frame = await Task.detached { [page = consume page] in page.frameNumber }.value
    #expect(frame >= 0x80000)
    #expect(memory.leakReport().isEmpty)
  }
}
