import Synchronization
import Testing

@testable import PhysicalPages

/// `PhysicalMemory.setFreeObserver(_:)`: the observer hears every block freed (its
/// address and size, while it is still allocated) until it is removed.
@Suite struct FreeObserverTests {
  /// The frees an observer heard, and whether each block was still allocated then.
  final class Heard: Sendable {
    let frees = Mutex<[(address: PhysicalAddress, byteCount: Int, allocated: Bool)]>([])
  }

  @Test func theObserverHearsEachFreeWithItsAddressAndSizeBeforeTheBlockGoesBack() throws {
    let memory = try makeMemory(poison: true)
    let heard = Heard()
    memory.setFreeObserver { address, byteCount in
      // Still allocated: the observer may look at the page (here: borrow it).
      let allocated = (try? memory.withPage(at: address) { _ in true }) ?? false
      heard.frees.withLock { $0.append((address, byteCount, allocated)) }
    }
    let page = try memory.allocatePage()
    let block = try memory.allocatePages(order: 2)
    let (pageAddress, blockAddress) = (page.physicalAddress, block.physicalAddress)
    _ = consume page
    _ = consume block
    let frees = heard.frees.withLock { $0 }
    #expect(frees.map(\.address) == [pageAddress, blockAddress])
    #expect(frees.map(\.byteCount) == [4096, 4 * 4096])
    #expect(frees.allSatisfy { $0.allocated })
    memory.setFreeObserver(nil)
    #expect(memory.leakReport().isEmpty)
  }

  @Test func aRemovedObserverHearsNothingAndFreesStillWork() throws {
    let memory = try makeMemory()
    final class Counter: Sendable { let value = Atomic<Int>(0) }
    let count = Counter()
    let counted = try memory.allocatePage()
    let quiet = try memory.allocatePage()
    memory.setFreeObserver { _, _ in count.value.add(1, ordering: .relaxed) }
    _ = consume counted
    memory.setFreeObserver(nil)
    _ = consume quiet
    #expect(count.value.load(ordering: .relaxed) == 1)
    #expect(memory.leakReport().isEmpty)
  }
}
