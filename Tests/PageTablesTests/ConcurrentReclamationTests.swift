import Dispatch
import PageTables
import Synchronization
import Testing

/// Epoch-based reclamation (`Reclamation.swift`): readers that never stop do not
/// keep tables from being freed, and no more than `maximumWaitingTables` wait,
/// whatever the readers do. Named to run under ThreadSanitizer in CI ('oncurrent').
@Suite struct ConcurrentReclamationTests {
  /// Each round maps one page 5 GiB up (a level-1 and a level-2 table are made)
  /// and unmaps it again (both are unlinked and handed to the flush).
  static let writerPage: UInt64 = 5 << 30
  /// The page the readers translate, whose tables stay.
  static let readerPage: UInt64 = 0x20_3000

  /// A table over an image of `imageBytes` with the readers' page mapped.
  static func tableWithReaderPage(imageBytes: Int) throws -> PageTable<ToyFormat, ImageTableMemory>
  {
    let table = try makeTable(ToyFormat(runLength: 1), imageBytes: imageBytes)
    try table.map(
      virtualAddress: readerPage, physicalAddress: 0x8000_0000, size: 4096,
      protection: .readWrite)
    return table
  }

  /// Maps the writer's page, unmaps it and flushes: two tables made and unlinked.
  static func writerRound(_ table: PageTable<ToyFormat, ImageTableMemory>) throws {
    try table.map(
      virtualAddress: writerPage, physicalAddress: 0x9000_0000, size: 4096,
      protection: .readWrite)
    try unmapAndFlush(table, writerPage, 4096)
  }

  /// Two threads translate a stable page in a loop while a third maps, unmaps and
  /// flushes. With reclamation waiting for a moment when no operation is in flight
  /// the readers starve it and the 2 MiB image (512 tables) runs out within 256
  /// rounds; here every round's tables are freed or wait, boundedly.
  @Test func concurrentReadersThatNeverStopDoNotStarveReclamation() throws {
    let table = try Self.tableWithReaderPage(imageBytes: 2 << 20)
    let baseline = table.memory.liveTables
    let stop = Atomic<Bool>(false)
    let wrongTranslations = Atomic<Int>(0)
    let group = DispatchGroup()
    for _ in 0..<2 {
      DispatchQueue.global().async(group: group) {
        while !stop.load(ordering: .relaxed) {
          if table.translate(Self.readerPage)?.physicalAddress != 0x8000_0000 {
            wrongTranslations.add(1, ordering: .relaxed)
          }
        }
      }
    }
    var mostWaiting = 0
    var mostLive = 0
    var failure: String?
    for _ in 0..<2_000 {
      do {
        try Self.writerRound(table)
      } catch {
        failure = "\(error)"
        break
      }
      mostWaiting = max(mostWaiting, table.retiredTableCount)
      mostLive = max(mostLive, table.memory.liveTables)
    }
    stop.store(true, ordering: .relaxed)
    group.wait()
    #expect(failure == nil, "the image ran out: tables were not reclaimed")
    #expect(wrongTranslations.load(ordering: .relaxed) == 0)
    let bound = PageTable<ToyFormat, ImageTableMemory>.maximumWaitingTables
    #expect(mostWaiting <= bound)
    #expect(mostLive <= baseline + 2 + bound)
    // Once the readers stopped, a flush frees whatever still waits.
    var gather = TLBGather(invalidator: RecordingTLB())
    table.flush(&gather)
    #expect(table.retiredTableCount == 0)
    #expect(table.memory.liveTables == baseline, "no table page leaked")
    try unmapAndFlush(table, Self.readerPage, 4096)
  }

  /// A reader stalled inside a walk holds an old epoch: the tables unlinked after it
  /// entered wait, up to the bound, and then the writer's flush waits for the walk
  /// to end rather than letting more pile up. Released, everything is freed.
  @Test func concurrentStalledWalkerBoundsTheTablesWaiting() throws {
    let table = try Self.tableWithReaderPage(imageBytes: 4 << 20)
    let baseline = table.memory.liveTables
    let bound = PageTable<ToyFormat, ImageTableMemory>.maximumWaitingTables
    let inWalk = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let walkers = DispatchGroup()
    DispatchQueue.global().async(group: walkers) {
      var visitor = StallingVisitor(inWalk: inWalk, release: release)
      try? table.walk(virtualAddress: 0, size: 1 << 30, visitor: &visitor)
    }
    inWalk.wait()
    let rounds = Atomic<Int>(0)
    let mostWaiting = Atomic<Int>(0)
    let rounds_ = bound  // each round retires two tables: twice the bound in all
    let writer = DispatchGroup()
    DispatchQueue.global().async(group: writer) {
      for _ in 0..<rounds_ {
        try! Self.writerRound(table)
        let waiting = table.retiredTableCount
        if waiting > mostWaiting.load(ordering: .relaxed) {
          mostWaiting.store(waiting, ordering: .relaxed)
        }
        rounds.add(1, ordering: .relaxed)
      }
    }
    // The writer stops making progress once the bound is reached.
    var last = -1
    while writer.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
      let now = rounds.load(ordering: .relaxed)
      if now == last { break }
      last = now
    }
    #expect(rounds.load(ordering: .relaxed) < rounds_, "the flush waits for the stalled walk")
    #expect(table.retiredTableCount <= bound)
    #expect(table.memory.liveTables <= baseline + 2 + bound)
    release.signal()
    walkers.wait()
    writer.wait()
    #expect(rounds.load(ordering: .relaxed) == rounds_)
    #expect(mostWaiting.load(ordering: .relaxed) <= bound)
    var gather = TLBGather(invalidator: RecordingTLB())
    table.flush(&gather)
    #expect(table.retiredTableCount == 0)
    #expect(table.memory.liveTables == baseline, "no table page leaked")
    try unmapAndFlush(table, Self.readerPage, 4096)
  }
}

/// A visitor that stops at the first leaf until released.
struct StallingVisitor: PageTableVisitor {
  let inWalk: DispatchSemaphore
  let release: DispatchSemaphore
  var stalled = false
  mutating func visitLeaf(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int,
    protection: Protection, entry: UInt64
  ) {
    guard !stalled else { return }
    stalled = true
    inWalk.signal()
    release.wait()
  }
}
