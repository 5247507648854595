import Testing

@testable import PhysicalPages

/// `PhysicalMemory.injectFaults(_:)`: allocations fail when the policy says, exactly
/// like real exhaustion, and every operation cleans up after them.
@Suite struct FaultInjectionTests {
  @Test func onlyTheNthAllocationFailsAndCountingStartsWhenThePolicyIsSet() throws {
    let memory = try makeMemory()
    let early = try memory.allocatePage()
    memory.injectFaults(.failing(allocation: 3))
    let first = try memory.allocatePage()
    let second = try memory.allocatePages(order: 2)
    #expect(throws: PageError.outOfMemory(order: 1)) { _ = try memory.allocatePages(order: 1) }
    let fourth = try memory.allocatePage()
    #expect(memory.faultInjectionCounts == .init(allocations: 4, injectedFaults: 1))
    memory.injectFaults(.never)
    #expect(memory.faultInjectionCounts == .init())
    _ = consume early
    _ = consume first
    _ = consume second
    _ = consume fourth
    #expect(memory.leakReport().isEmpty)
  }

  @Test func failingFromAnAllocationExhaustsTheMachineUntilTurnedOff() throws {
    let memory = try makeMemory()
    memory.injectFaults(.failing(fromAllocation: 2))
    let first = try memory.allocatePage()
    for _ in 0..<5 {
      #expect(throws: PageError.outOfMemory(order: 0)) { _ = try memory.allocatePage() }
    }
    memory.injectFaults(.never)
    let later = try memory.allocatePage()
    #expect(first.physicalAddress != later.physicalAddress)
  }

  @Test func randomFaultsRepeatForTheSameSeed() throws {
    func pattern(seed: UInt64) throws -> [Bool] {
      let memory = try makeMemory()
      memory.injectFaults(.failing(probability: 0.3, seed: seed))
      var failed: [Bool] = []
      for _ in 0..<200 {
        do {
          _ = try memory.allocatePage()
          failed.append(false)
        } catch {
          #expect(error == .outOfMemory(order: 0))
          failed.append(true)
        }
      }
      #expect(memory.faultInjectionCounts.injectedFaults == failed.filter { $0 }.count)
      return failed
    }
    let a = try pattern(seed: 7)
    #expect(try pattern(seed: 7) == a)
    #expect(try pattern(seed: 8) != a)
    let rate = Double(a.filter { $0 }.count) / Double(a.count)
    #expect(rate > 0.15 && rate < 0.45, "about 30% fail")
    #expect(FaultInjection.failing(probability: .nan, seed: 1) == .failing(probability: 0, seed: 1))
  }

  /// For every N, a vmalloc whose N-th page allocation fails throws out-of-memory,
  /// leaves no page allocated and no virtual range taken; the next one succeeds.
  @Test func vmallocFailingAtEveryPageLeavesNothingAllocated() throws {
    let memory = try makeMemory(vmallocPages: 12)
    let pages = 12
    for n in 1...pages + 1 {
      memory.injectFaults(.failing(allocation: n))
      do {
        let buffer = try memory.vmalloc(byteCount: pages * 4096 - 100)
        #expect(n > pages, "allocation \(n) of \(pages) failed, yet vmalloc succeeded")
        #expect(buffer.pageCount == pages)
      } catch {
        #expect(error == .outOfMemory(order: 0))
        #expect(n <= pages)
      }
      #expect(memory.leakReport().isEmpty, "after allocation \(n) failed")
      memory.drainThreadCache()
      #expect(memory.statistics().pagesInUse == 0)
    }
    memory.injectFaults(.never)
    // The whole area is free again: a buffer that needs all of it fits.
    let whole = try memory.vmalloc(byteCount: pages * 4096)
    #expect(whole.pageCount == pages)
    #expect(memory.faultInjectionCounts.allocations == 0)
  }
}
