import Synchronization
import Testing

@testable import PhysicalPages

#if canImport(Glibc)
  import Glibc
#endif

private final class Handoff: Sendable {
  let pages = Mutex<[SharedPage]>([])
}

@Suite struct ConcurrencyTests {
  @Test func concurrentAllocateAndFreeFromFourThreadsIsClean() throws {
    let memory = try makeMemory(pages: 8192)
    let handoff = Handoff()
    runOnThreads(4) { thread in
      for round in 0..<4000 {
        let page = try! memory.allocatePage(zeroed: round % 3 == 0)
        try! page.storeBytes(of: UInt64(thread << 32 | round), at: 8)
        precondition(try! page.load(as: UInt64.self, at: 8) == UInt64(thread << 32 | round))
        if round % 7 == 0 {
          // Freed later, on whichever thread takes it.
          let shared = SharedPage(page)
          handoff.pages.withAnnotatedLock { $0.append(shared) }
        } else if round % 11 == 0 {
          let shared = SharedPage(sharing: page)
          handoff.pages.withAnnotatedLock { $0.append(shared) }
        }
        if round % 5 == 0 {
          _ = handoff.pages.withAnnotatedLock { $0.popLast() }
        }
        if round % 97 == 0 {
          let block = try! memory.allocatePages(order: round % 6)
          try! block.write([1, 2, 3], at: block.byteCount - 3)
        }
      }
    }
    handoff.pages.withAnnotatedLock { $0.removeAll() }
    memory.drainThreadCache()
    let stats = memory.statistics()
    #expect(memory.leakReport().isEmpty)
    #expect(stats.allocatedPages == 0)
    #expect(stats.cachedPages == 0)  // exiting threads returned their caches
    #expect(stats.freePages == 8192)
  }

  @Test func manyMachinesInOneProcessNeverExhaustThreadKeys() throws {
    for _ in 0..<300 {
      var machines: [PhysicalMemory] = []
      for _ in 0..<12 {  // more machines than a thread has cache slots
        let memory = try makeMemory(pages: 1024)
        do { _ = try memory.allocatePage() }
        machines.append(memory)
      }
      for memory in machines { #expect(memory.leakReport().isEmpty) }
    }
  }

  @Test func aThreadCacheNeverKeepsAMachineAlive() throws {
    weak var core: MemoryCore?
    do {
      let memory = try makeMemory()
      do { _ = try memory.allocatePage() }
      #expect(memory.statistics().cachedPages > 0)
      core = memory.core
    }
    #expect(core == nil)
  }

  @Test func aThreadExitingAfterItsMachineDiedDoesNotTouchIt() throws {
    final class Flags: Sendable {
      let cached = Atomic<Bool>(false)
      let machineGone = Atomic<Bool>(false)
      let memory = Mutex<PhysicalMemory?>(nil)
    }
    let flags = Flags()
    weak var core: MemoryCore?
    do {
      let memory = try makeMemory()
      core = memory.core
      flags.memory.withAnnotatedLock { $0 = memory }
    }
    runOnThreads(2) { thread in
      if thread == 0 {
        do {
          let memory = flags.memory.withAnnotatedLock { $0 }!
          _ = try! memory.allocatePage()
        }
        flags.cached.store(true, ordering: .releasing)
        while !flags.machineGone.load(ordering: .acquiring) { sched_yield() }
      } else {
        while !flags.cached.load(ordering: .acquiring) { sched_yield() }
        flags.memory.withAnnotatedLock { $0 = nil }
        flags.machineGone.store(true, ordering: .releasing)
      }
    }
    #expect(core == nil)
  }
}
