// MMU model benchmarks: what leaving the model on costs a test. A TLB hit (with
// and without the checker's one-entry comparison), a TLB miss (a walk), judging
// entry writes the model finds by comparing table memory with its copies, and
// checking one entry write it is told of (`entryWritten`).
//
// Run: cd Benchmarks && swift package benchmark --target MMUModelBenchmarks
// "ns/op" is wall time in nanoseconds per access, or per entry written.
import Benchmark
import MMUModel
import PageTables
import PhysicalPageTables
import PhysicalPages

let nsPerOperation = BenchmarkMetric.custom(
  "ns/op", polarity: .prefersSmaller, useScalingFactor: false)

/// Nanoseconds (with fractions lost) in `duration`, scaled by 1000 for ps.
func picosecondsIn(_ duration: Duration) -> Int {
  Int(duration.components.seconds * 1_000_000_000_000 + duration.components.attoseconds / 1_000_000)
}

/// Records `elapsed` divided by `count` operations, in ns (rounded).
func record(_ benchmark: Benchmark, _ elapsed: Duration, per count: Int) {
  benchmark.measurement(nsPerOperation, (picosecondsIn(elapsed) / count + 500) / 1000)
}

/// The model and a table on `PhysicalPages` memory, ARM64 4K.
struct Setup {
  let mmu: MMU<ARM64Format, PhysicalPageTableMemory>
  let table: PageTable<ARM64Format, ObservedTableMemory<PhysicalPageTableMemory>>
  let space: AddressSpace

  init(checking: MMUConfiguration.Checking, tlbEntries: Int = 256) {
    let ram = try! PhysicalMemory(configuration: PhysicalMemory.Configuration(byteCount: 256 << 20))
    let memory = PhysicalPageTableMemory(ram)
    let format = try! ARM64Format(granule: .k4, inputBits: 48)
    var configuration = MMUConfiguration()
    configuration.checking = checking
    configuration.tlbEntries = tlbEntries
    mmu = try! MMU(format: format, memory: memory, configuration: configuration)
    table = try! PageTable(format: format, memory: mmu.observing(memory))
    space = mmu.attach(table, asid: 1)
  }

  func map(_ va: UInt64, _ size: UInt64) {
    try! table.map(
      virtualAddress: va, physicalAddress: 0x1_0000_0000 + va, size: size, protection: .readWrite)
  }

  func unmap(_ va: UInt64, _ size: UInt64) {
    var gather = TLBGather(invalidator: mmu.invalidator(for: space))
    _ = try! table.unmap(virtualAddress: va, size: size, gather: &gather)
    table.flush(&gather)
  }
}

let base: UInt64 = 0x40_0000_0000

func registerHits(_ name: String, _ checking: MMUConfiguration.Checking) {
  Benchmark(
    "MMU ARM64 4K: TLB-hit translate (\(name))",
    configuration: .init(metrics: [.wallClock, nsPerOperation], scalingFactor: .one)
  ) { benchmark in
    let setup = Setup(checking: checking)
    setup.map(base, 64 * 4096)  // 64 pages (four contiguous runs): all fit the TLB
    let addresses = (0..<1024).map { base + UInt64($0 % 64) * 4096 + UInt64($0 * 8 % 4096) }
    for address in addresses { _ = try! setup.mmu.access(address, in: setup.space) }
    let clock = ContinuousClock()
    for _ in benchmark.scaledIterations {
      let elapsed = clock.measure {
        for address in addresses { blackHole(try! setup.mmu.access(address, in: setup.space)) }
      }
      record(benchmark, elapsed, per: addresses.count)
    }
    setup.unmap(base, 64 * 4096)
    setup.mmu.detach(setup.space)
  }
}

func registerMisses(_ name: String, _ checking: MMUConfiguration.Checking) {
  Benchmark(
    "MMU ARM64 4K: TLB-miss translate, a walk (\(name))",
    configuration: .init(metrics: [.wallClock, nsPerOperation], scalingFactor: .one)
  ) { benchmark in
    // 4096 pages without runs through a 16-entry TLB: nearly every access misses.
    let setup = Setup(checking: checking, tlbEntries: 16)
    for page in stride(from: 0, to: 8192, by: 2) { setup.map(base + UInt64(page) * 4096, 4096) }
    var random = SystemRandomNumberGenerator()
    let addresses = (0..<4096).map { _ in base + UInt64.random(in: 0..<4096, using: &random) * 8192
    }
    let clock = ContinuousClock()
    for _ in benchmark.scaledIterations {
      let elapsed = clock.measure {
        for address in addresses { blackHole(try! setup.mmu.access(address, in: setup.space)) }
      }
      record(benchmark, elapsed, per: addresses.count)
    }
    for page in stride(from: 0, to: 8192, by: 2) { setup.unmap(base + UInt64(page) * 4096, 4096) }
    setup.mmu.detach(setup.space)
  }
}

/// Judging `count` entries written by a map (the model's look at memory after it),
/// per entry; the tree is the map's own (root, two intermediate tables, leaf table).
func registerWrites(_ count: Int) {
  Benchmark(
    "MMU ARM64 4K: judge \(count) entry write(s) (synchronize after a map)",
    configuration: .init(metrics: [.wallClock, nsPerOperation], scalingFactor: .one)
  ) { benchmark in
    let setup = Setup(checking: .report)
    setup.map(base + 511 * 4096, 4096)  // keeps the tables alive
    setup.mmu.synchronize()
    let clock = ContinuousClock()
    for _ in benchmark.scaledIterations {
      setup.map(base, UInt64(count) * 4096)
      let elapsed = clock.measure { setup.mmu.synchronize() }
      record(benchmark, elapsed, per: count)
      setup.unmap(base, UInt64(count) * 4096)
    }
    setup.unmap(base + 511 * 4096, 4096)
    setup.mmu.detach(setup.space)
  }
}

/// The last-level table translating `va` in `setup`'s table, and a leaf for it.
func leafTable(_ setup: Setup, _ va: UInt64) -> UInt64 {
  var address = setup.table.rootAddress()
  for level in 0..<(setup.table.depth - 1) {
    let shape = setup.table.level(level)
    let index = Int((va >> UInt64(shape.shift)) & UInt64(shape.entryCount - 1))
    let entry = setup.table.memory.withTable(at: address, byteCount: shape.tableBytes) {
      $0.load(index)
    }
    address = setup.table.format.tableAddress(of: entry, level: level)
  }
  return address
}

/// A told write (`entryWritten`) checked alone: `fill` writes leaves into the 511
/// empty entries of a leaf table (a map's writes); otherwise one entry goes from a
/// leaf to empty and back (an unmap's write, then a remap's), per entry written.
func registerToldWrites(fill: Bool) {
  Benchmark(
    "MMU ARM64 4K: check one told entry write (entryWritten, "
      + (fill ? "empty → leaf)" : "leaf ↔ empty)"),
    configuration: .init(metrics: [.wallClock, nsPerOperation], scalingFactor: .one)
  ) { benchmark in
    let setup = Setup(checking: .report)
    setup.map(base, 4096)  // entry 0 keeps the leaf table
    setup.mmu.synchronize()
    let table = leafTable(setup, base)
    let memory = setup.mmu.memory
    let leaf = setup.table.format.leafEntry(
      template: try! setup.table.format.leafTemplate(for: .readWrite, level: 3),
      physicalAddress: 0x1_0000_1000, level: 3)
    let clock = ContinuousClock()
    for _ in benchmark.scaledIterations {
      let elapsed = clock.measure {
        for index in 1..<512 {
          let value: UInt64 = fill || index & 1 == 1 ? leaf : 0
          memory.withTable(at: table, byteCount: 4096) { $0.store(fill ? index : 1, value) }
          try! setup.mmu.entryWritten(table: table, index: fill ? index : 1)
        }
      }
      record(benchmark, elapsed, per: 511)
      // Back to empty, unmeasured: cleared in memory, then an invalidation of all.
      memory.withTable(at: table, byteCount: 4096) { view in
        for index in 1..<512 { view.store(index, 0) }
      }
      setup.mmu.invalidate(.all)
    }
    setup.unmap(base, 4096)
    setup.mmu.detach(setup.space)
  }
}

let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(maxDuration: .seconds(2), maxIterations: 10_000)
  registerHits("checking on", .report)
  registerHits("checking off", .off)
  registerMisses("checking on", .report)
  registerMisses("checking off", .off)
  registerWrites(1)
  registerWrites(16)
  registerWrites(256)
  registerToldWrites(fill: true)
  registerToldWrites(fill: false)
}
