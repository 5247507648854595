import Foundation
import PageTables
import PhysicalPageTables
import PhysicalPages
import Synchronization
import Testing

/// Several writer threads map and unmap pages and blocks of one table, on ranges
/// that interleave inside shared leaf tables and on ranges of their own that empty
/// upper-level tables, while reader threads translate without ever pausing, for a
/// bounded time. Afterwards every translation matches the writers' models and no
/// table page is left. Named for CI's ThreadSanitizer step (`--filter oncurrent`).
///
/// The operations used are exactly the ones ``PageTable`` documents as concurrent:
/// `map`, `unmap` (with `flush`) and `translate` on disjoint ranges. Set
/// `PAGETABLES_STRESS_SECONDS` to run longer than the default 2 seconds.
@Suite struct ConcurrentStressTests {
  static let writers = 3
  static let readers = 2
  static let g: UInt64 = 4096
  static let block: UInt64 = 2 << 20
  /// Interleaved pages: page `p` of this 4 MiB region belongs to writer `p % writers`.
  static let sharedRegion: UInt64 = 0x40_0000_0000
  static let sharedPages: UInt64 = 1024
  /// Writer `t` owns 2 MiB slots `[ownRegion(t), ownRegion(t) + 4 GiB)`, in a 1 GiB
  /// table of its own: mapping and unmapping there empties and frees upper tables.
  static func ownRegion(_ t: Int) -> UInt64 { 0x80_0000_0000 + UInt64(t) << 32 }
  static let ownSlots: UInt64 = 2048
  /// Pages mapped before the threads start and never touched: readers check them.
  static let stableRegion: UInt64 = 0x10_0000_0000
  static let stablePages: UInt64 = 64

  /// Every mapping's physical address is a function of its virtual address, so a
  /// reader can check any translation it sees, even of a page being changed.
  static func physical(_ va: UInt64) -> UInt64 { (va &* 7) & 0xFF_FFFF_F000 }

  static var duration: Duration {
    let seconds =
      ProcessInfo.processInfo.environment["PAGETABLES_STRESS_SECONDS"]
      .flatMap(Double.init) ?? 2
    return .milliseconds(Int(seconds * 1000))
  }

  @Test(arguments: [0, 8])
  func concurrentWritersAndNeverStoppingReadersAgreeWithTheModel(cachedTables: Int) throws {
    let ram = try PhysicalMemory(configuration: .init(byteCount: 1 << 30))
    let table = try PageTable(
      format: try ARM64Format(granule: .k4, inputBits: 48),
      memory: PhysicalPageTableMemory(ram, cachedTables: cachedTables))
    let pagesBefore = ram.statistics().allocatedPages
    for p in 0..<Self.stablePages {
      let va = Self.stableRegion + p * Self.g
      try table.map(
        virtualAddress: va, physicalAddress: Self.physical(va), size: Self.g,
        protection: .readOnly)
    }
    let stop = Atomic<Bool>(false)
    let results = Mutex<[WriterResult]>([])
    let readerFindings = Mutex<[String]>([])
    let translations = Atomic<Int>(0)
    var threads: [Thread] = []
    let done = DispatchGroup()
    for t in 0..<Self.writers {
      done.enter()
      threads.append(
        Thread {
          let result = Self.write(table, writer: t, until: stop)
          results.withAnnotatedLock { $0.append(result) }
          done.leave()
        })
    }
    for r in 0..<Self.readers {
      done.enter()
      threads.append(
        Thread {
          let (count, findings) = Self.read(table, reader: r, until: stop)
          translations.wrappingAdd(count, ordering: .relaxed)
          readerFindings.withAnnotatedLock { $0 += findings }
          done.leave()
        })
    }
    for thread in threads { thread.start() }
    Thread.sleep(
      forTimeInterval: Double(Self.duration.components.seconds)
        + Double(Self.duration.components.attoseconds) / 1e18)
    stop.store(true, ordering: .releasing)
    done.wait()

    let writerResults = results.withAnnotatedLock { $0 }
    // One line of figures for RELIABILITY.md.
    print(
      "stress (cache \(cachedTables)): \(Self.duration), \(Self.writers) writers made",
      "\(writerResults.reduce(0) { $0 + $1.operations }) map/unmap operations,",
      "\(Self.readers) readers made \(translations.load(ordering: .relaxed)) translations,",
      "\(table.retiredTableCount) tables waiting for reclamation at the end")
    #expect(writerResults.count == Self.writers)
    #expect(
      readerFindings.withAnnotatedLock { $0 }.isEmpty,
      "\(readerFindings.withAnnotatedLock { $0.prefix(5) })")
    #expect(
      writerResults.allSatisfy { $0.failures.isEmpty },
      "\(writerResults.flatMap(\.failures).prefix(5))")
    #expect(writerResults.allSatisfy { $0.operations > 0 }, "every writer made progress")
    #expect(translations.load(ordering: .relaxed) > 0)

    // Every page of every region translates as the models say.
    var expected: [UInt64: UInt64] = [:]  // va of a leaf -> its size
    for result in writerResults { expected.merge(result.mapped) { a, _ in a } }
    for p in 0..<Self.stablePages { expected[Self.stableRegion + p * Self.g] = Self.g }
    for p in 0..<Self.sharedPages {
      let va = Self.sharedRegion + p * Self.g
      #expect(
        table.translate(va)?.physicalAddress == (expected[va] != nil ? Self.physical(va) : nil))
    }
    for (va, size) in expected {
      #expect(table.translate(va)?.physicalAddress == Self.physical(va))
      #expect(table.translate(va + size - 1)?.physicalAddress == Self.physical(va) + size - 1)
    }
    let dumped = table.dump().reduce(0) { $0 + $1.size }
    #expect(dumped == expected.values.reduce(0, +), "the dump holds exactly the models' mappings")

    // Unmap everything: only the root is left, and nothing waits for reclamation.
    var gather = TLBGather(invalidator: NoTLB())
    for region in [Self.stableRegion, Self.sharedRegion] {
      try table.unmap(virtualAddress: region, size: 1 << 30, gather: &gather)
    }
    for t in 0..<Self.writers {
      try table.unmap(virtualAddress: Self.ownRegion(t), size: 1 << 32, gather: &gather)
    }
    table.flush(&gather)
    #expect(table.dump().isEmpty)
    #expect(table.retiredTableCount == 0)
    table.memory.drainTableCache()
    #expect(ram.statistics().allocatedPages == pagesBefore, "no table page leaked")
  }

  struct WriterResult: Sendable {
    var operations = 0
    var mapped: [UInt64: UInt64] = [:]
    var failures: [String] = []
  }

  /// One writer: random maps and unmaps of its own pages (interleaved with the
  /// other writers' in shared leaf tables) and of its own 2 MiB slots.
  static func write<Memory: TableMemory>(
    _ table: PageTable<ARM64Format, Memory>, writer t: Int, until stop: borrowing Atomic<Bool>
  ) -> WriterResult {
    var result = WriterResult()
    var random = UInt64(t + 1) &* 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
      random ^= random << 13
      random ^= random >> 7
      random ^= random << 17
      return random
    }
    while !stop.load(ordering: .relaxed) {
      let (va, size): (UInt64, UInt64)
      if next() % 2 == 0 {
        let page = (next() % (sharedPages / UInt64(writers))) * UInt64(writers) + UInt64(t)
        (va, size) = (sharedRegion + page * g, g)
      } else {
        // A whole block, or one page of the slot (which leaves a leaf table behind).
        let slot = ownRegion(t) + (next() % ownSlots) * block
        (va, size) = next() % 4 == 0 ? (slot + (next() % 512) * g, g) : (slot, block)
      }
      do {
        if let existing = result.mapped.first(where: { va >= $0.key && va < $0.key + $0.value })
          ?? result.mapped.first(where: { $0.key >= va && $0.key < va + size })
        {
          var gather = TLBGather(invalidator: NoTLB())
          let removed = try table.unmap(
            virtualAddress: existing.key, size: existing.value, gather: &gather)
          table.flush(&gather)
          if removed != existing.value {
            result.failures.append("unmap \(existing) removed \(removed)")
          }
          result.mapped[existing.key] = nil
          if table.translate(existing.key) != nil {
            result.failures.append("0x\(String(existing.key, radix: 16)) still mapped")
          }
        } else {
          try table.map(
            virtualAddress: va, physicalAddress: physical(va), size: size, protection: .readWrite)
          result.mapped[va] = size
          if table.translate(va)?.physicalAddress != physical(va) {
            result.failures.append("0x\(String(va, radix: 16)) not mapped after map")
          }
        }
      } catch {
        result.failures.append("0x\(String(va, radix: 16)): \(error)")
      }
      result.operations += 1
    }
    return result
  }

  /// One reader: translates the stable pages (which must always be there) and
  /// pages the writers are changing (which must be absent or correct), without pause.
  static func read<Memory: TableMemory>(
    _ table: PageTable<ARM64Format, Memory>, reader r: Int, until stop: borrowing Atomic<Bool>
  ) -> (Int, [String]) {
    var findings: [String] = []
    var count = 0
    var k = UInt64(r)
    while !stop.load(ordering: .relaxed) {
      k &+= 1
      let stable = stableRegion + (k % stablePages) * g
      if table.translate(stable)?.physicalAddress != physical(stable) {
        findings.append("stable page 0x\(String(stable, radix: 16)) lost")
      }
      let changing =
        k % 2 == 0
        ? sharedRegion + (k % sharedPages) * g
        : ownRegion(Int(k % UInt64(writers))) + (k % ownSlots) * block
      if let found = table.translate(changing) {
        let base = changing & ~(found.pageSize - 1)
        if found.physicalAddress != physical(base) + (changing - base) {
          findings.append("0x\(String(changing, radix: 16)) translates to a wrong address")
        }
      }
      count += 2
      if findings.count > 10 { break }
    }
    return (count, findings)
  }
}

/// An invalidator with no TLB behind it (the stress test checks the tables only).
struct NoTLB: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}
