// Page-table benchmarks: map and unmap of pages and blocks, bulk mapping, and
// translation, for ARM64, x86-64 and RISC-V Sv48 on tables in PhysicalPages
// memory; beside each bulk case, storing the same number of 8-byte entries into
// warm memory (the physical limit for writing a table).
//
// Run: cd Benchmarks && swift package benchmark --target PageTableBenchmarks
// Every "ps/page" figure is wall time in picoseconds divided by the pages (leaves)
// touched (or, for translate, by the addresses translated); picoseconds keep
// sub-nanosecond bulk figures readable next to the store limit. Single-call rows
// come in a shared (PageTable) and an exclusive (ExclusivePageTable) form, next to
// two in-run baselines: a plain 4-level array walk and one entry stored and cleared.
import Benchmark
import PageTables
import PhysicalPageTables
import PhysicalPages

/// A TLB that needs no invalidation (tables no hardware walks).
struct NoTLB: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}

let psPerPage = BenchmarkMetric.custom(
  "ps/page", polarity: .prefersSmaller, useScalingFactor: false)

/// Picoseconds in `duration`.
func picoseconds(_ duration: Duration) -> Int {
  Int(duration.components.seconds * 1_000_000_000_000 + duration.components.attoseconds / 1_000_000)
}

/// Measures `body` once per iteration and records picoseconds per page.
func perPage(_ benchmark: Benchmark, pages: Int, _ body: () -> Void) {
  let clock = ContinuousClock()
  for _ in benchmark.scaledIterations {
    benchmark.measurement(psPerPage, picoseconds(clock.measure(body)) / pages)
  }
}

/// Runs `body` `repeats` times per iteration (one clock reading for the batch, so
/// short operations are not lost in the clock's own cost) and records picoseconds
/// per call.
func perCall(_ benchmark: Benchmark, repeats: Int, _ body: () -> Void) {
  let clock = ContinuousClock()
  for _ in benchmark.scaledIterations {
    let elapsed = clock.measure {
      for _ in 0..<repeats { body() }
    }
    benchmark.measurement(psPerPage, picoseconds(elapsed) / repeats)
  }
}

/// The physical limit: store `count` 8-byte entries into a warm buffer.
func registerStoreLimit(entries count: Int) {
  Benchmark(
    "limit: store \(count) × 8-byte entries into warm memory",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    let buffer = UnsafeMutablePointer<UInt64>.allocate(capacity: count)
    unsafe buffer.initialize(repeating: 0, count: count)
    defer { unsafe buffer.deallocate() }
    perPage(benchmark, pages: count) {
      var entry: UInt64 = 0x4000_0000_0743
      for i in 0..<count {
        unsafe buffer[i] = entry
        entry &+= 4096
      }
      blackHole(unsafe buffer[count - 1])
    }
  }
}

/// Every page-table benchmark for one format.
func register<Format: PageTableFormat>(_ name: String, _ format: Format, base: UInt64) {
  let memory = try! PhysicalMemory(
    configuration: PhysicalMemory.Configuration(byteCount: 512 << 20))
  let table = try! PageTable(format: format, physicalMemory: memory)
  let small: UInt64 = 4096
  let large: UInt64 = 2 << 20

  func mapAndUnmap(
    _ va: UInt64, _ size: UInt64,
    in target: PageTable<Format, PhysicalPageTableMemory>? = nil
  ) {
    mapUnmapAndFlush(target ?? table, va, size)
  }

  // Each unmap empties and frees the three tables below the root; the next map
  // allocates them again.
  Benchmark(
    "\(name): map+unmap 1 × 4 KiB",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    perCall(benchmark, repeats: 1000) { mapAndUnmap(base, small) }
  }

  // The same, with freed tables kept on a small stack of known-zero pages (opt-in).
  Benchmark(
    "\(name): map+unmap 1 × 4 KiB (8 cached zero tables)",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    let cachedTable = try! PageTable(
      format: format, memory: PhysicalPageTableMemory(memory, cachedTables: 8))
    perCall(benchmark, repeats: 1000) { mapAndUnmap(base, small, in: cachedTable) }
  }

  // A neighbouring page keeps the tables alive: only the leaf changes.
  Benchmark(
    "\(name): map+unmap 1 × 4 KiB (tables kept)",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    try! table.map(
      virtualAddress: base + small, physicalAddress: 0x8000_0000, size: small,
      protection: .readWrite)
    perCall(benchmark, repeats: 1000) { mapAndUnmap(base, small) }
    var gather = TLBGather(invalidator: NoTLB())
    _ = try! table.unmap(virtualAddress: base + small, size: small, gather: &gather)
    table.flush(&gather)
  }

  Benchmark(
    "\(name): map+unmap 256 × 4 KiB",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    perPage(benchmark, pages: 256) { mapAndUnmap(base, 256 * small) }
  }

  Benchmark(
    "\(name): map+unmap 256 × 2 MiB",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    perPage(benchmark, pages: 256) { mapAndUnmap(base, 256 * large) }
  }

  // Contiguous runs on (the default) and off, on bulk maps where they form: 2 MiB
  // blocks at 2 MiB-aligned addresses (ARM64's level-2 runs of 16 blocks), and
  // 4 KiB pages where VA and PA agree modulo 64 KiB (ARM64 runs of 16 pages,
  // RISC-V Svnapot 64 KiB). x86-64 has no runs: its two rows are the same work.
  let runsOff = try! PageTable(
    format: format, memory: PhysicalPageTableMemory(memory),
    options: PageTableOptions(useContiguousRuns: false))
  for (label, target) in [("runs on", table), ("runs off", runsOff)] {
    Benchmark(
      "\(name): map+unmap 256 × 2 MiB, aligned (\(label))",
      configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
    ) { benchmark in
      perPage(benchmark, pages: 256) { mapAndUnmap(base, 256 * large, in: target) }
    }
    Benchmark(
      "\(name): map+unmap 64 MiB as 4 KiB pages, 64 KiB-aligned (\(label))",
      configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
    ) { benchmark in
      perPage(benchmark, pages: 16_384) {
        mapUnmapAndFlush(target, base, 64 << 20, physicalAddress: 0x8001_0000)
      }
    }
  }

  Benchmark(
    "\(name): map 1 GiB as 4 KiB pages, then unmap it",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one, maxIterations: 30)
  ) { benchmark in
    // Physical addresses misaligned by one page force 4 KiB leaves.
    perPage(benchmark, pages: 262_144) {
      try! table.map(
        virtualAddress: base, physicalAddress: 0x8000_1000, size: 1 << 30, protection: .readWrite)
      var gather = TLBGather(invalidator: NoTLB())
      _ = try! table.unmap(virtualAddress: base, size: 1 << 30, gather: &gather)
      table.flush(&gather)
    }
  }

  Benchmark(
    "\(name): map 1 GiB as 4 KiB pages (map only)",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one, maxIterations: 30)
  ) { benchmark in
    let clock = ContinuousClock()
    for _ in benchmark.scaledIterations {
      let elapsed = clock.measure {
        try! table.map(
          virtualAddress: base, physicalAddress: 0x8000_1000, size: 1 << 30, protection: .readWrite)
      }
      benchmark.measurement(psPerPage, picoseconds(elapsed) / 262_144)
      var gather = TLBGather(invalidator: NoTLB())
      _ = try! table.unmap(virtualAddress: base, size: 1 << 30, gather: &gather)
      table.flush(&gather)
    }
  }

  Benchmark(
    "\(name): translate random mapped addresses",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    try! table.map(
      virtualAddress: base, physicalAddress: 0x8000_1000, size: 256 << 20, protection: .readWrite)
    timeTranslations(benchmark, base: base) { table.translate($0) }
    var gather = TLBGather(invalidator: NoTLB())
    _ = try! table.unmap(virtualAddress: base, size: 256 << 20, gather: &gather)
    table.flush(&gather)
  }

  registerExclusive(name, format, memory: memory, base: base)
}

/// Times `translate` on 4,096 random addresses of the 256 MiB from `base`, per call.
@inline(__always)
func timeTranslations(
  _ benchmark: Benchmark, base: UInt64, _ translate: (UInt64) -> Translation?
) {
  let addresses = randomAddresses(base: base)
  var i = 0
  perCall(benchmark, repeats: 4096) {
    blackHole(translate(addresses[i & 4095]))
    i &+= 1
  }
}

/// 4,096 random addresses in the 256 MiB from `base`.
func randomAddresses(base: UInt64) -> [UInt64] {
  var random = SystemRandomNumberGenerator()
  return (0..<4096).map { _ in base + UInt64.random(in: 0..<(256 << 20), using: &random) }
}

/// The single-call rows on an ExclusivePageTable (one owner: no reclamation slot, no
/// atomic read-modify-writes), next to the shared rows above.
func registerExclusive<Format: PageTableFormat>(
  _ name: String, _ format: Format, memory: PhysicalMemory, base: UInt64
) {
  Benchmark(
    "\(name): exclusive: map+unmap 1 × 4 KiB (tables kept)",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    var table = try! ExclusivePageTable(format: format, memory: PhysicalPageTableMemory(memory))
    try! table.map(
      virtualAddress: base + 4096, physicalAddress: 0x8000_0000, size: 4096,
      protection: .readWrite)
    perCall(benchmark, repeats: 1000) {
      try! table.map(
        virtualAddress: base, physicalAddress: 0x8000_0000, size: 4096, protection: .readWrite)
      unmapAndFlush(&table, base, 4096)
    }
    unmapAndFlush(&table, base + 4096, 4096)
  }

  Benchmark(
    "\(name): exclusive: translate random mapped addresses",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    var table = try! ExclusivePageTable(format: format, memory: PhysicalPageTableMemory(memory))
    try! table.map(
      virtualAddress: base, physicalAddress: 0x8000_1000, size: 256 << 20, protection: .readWrite)
    timeTranslations(benchmark, base: base) { table.translate($0) }
    unmapAndFlush(&table, base, 256 << 20)
  }
}

/// Maps `[va, va + size)` read-write to `physicalAddress`, then unmaps it and flushes.
@inline(__always)
func mapUnmapAndFlush<Format: PageTableFormat>(
  _ table: PageTable<Format, PhysicalPageTableMemory>, _ va: UInt64, _ size: UInt64,
  physicalAddress: UInt64 = 0x8000_0000
) {
  try! table.map(
    virtualAddress: va, physicalAddress: physicalAddress, size: size, protection: .readWrite)
  var gather = TLBGather(invalidator: NoTLB())
  _ = try! table.unmap(virtualAddress: va, size: size, gather: &gather)
  table.flush(&gather)
}

/// Unmaps `[va, va + size)` from an exclusive table and flushes.
@inline(__always)
func unmapAndFlush<Format: PageTableFormat>(
  _ table: inout ExclusivePageTable<Format, PhysicalPageTableMemory>, _ va: UInt64, _ size: UInt64
) {
  var gather = TLBGather(invalidator: NoTLB())
  _ = try! table.unmap(virtualAddress: va, size: size, gather: &gather)
  table.flush(&gather)
}

/// The in-run baseline for single calls: a plain 4-level radix walk (9 index bits
/// a level, 4 KiB pages, entries holding the next table's index) over arrays in
/// ordinary memory, of the same 256 MiB of 4 KiB pages the translate rows map, at
/// the same kind of random addresses; and one entry stored and cleared (the least a
/// map+unmap pair does). Machines compare through these rows.
func registerSingleCallBaselines() {
  Benchmark(
    "baseline: plain 4-level array walk of a random address (256 MiB of 4 KiB pages)",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    // Table 0 is the root; one level-1 and one level-2 table, 128 leaf tables.
    let tables = 3 + 128
    let entries = UnsafeMutablePointer<UInt64>.allocate(capacity: tables * 512)
    unsafe entries.initialize(repeating: 0, count: tables * 512)
    defer { unsafe entries.deallocate() }
    unsafe entries[0] = 1 << 1 | 1  // root -> table 1
    unsafe entries[512] = 2 << 1 | 1  // -> table 2
    for leafTable in 0..<128 {
      unsafe entries[2 * 512 + leafTable] = UInt64(3 + leafTable) << 1 | 1
      for i in 0..<512 {
        unsafe entries[(3 + leafTable) * 512 + i] = UInt64(leafTable * 512 + i) << 12 | 1
      }
    }
    let addresses = randomAddresses(base: 0)
    var i = 0
    perCall(benchmark, repeats: 4096) {
      let address = addresses[i & 4095]
      var table = 0
      var entry: UInt64 = 0
      for shift: UInt64 in [39, 30, 21, 12] {
        entry = unsafe entries[table * 512 + Int(address >> shift & 511)]
        if entry & 1 == 0 { break }
        table = Int(entry >> 1)
      }
      blackHole((entry & ~0xFFF) | (address & 0xFFF))
      i &+= 1
    }
  }

  Benchmark(
    "baseline: store and clear one 8-byte entry",
    configuration: .init(metrics: [.wallClock, psPerPage], scalingFactor: .one)
  ) { benchmark in
    let entries = UnsafeMutablePointer<UInt64>.allocate(capacity: 512)
    unsafe entries.initialize(repeating: 0, count: 512)
    defer { unsafe entries.deallocate() }
    var i = 0
    perCall(benchmark, repeats: 1000) {
      unsafe entries[i & 511] = 0x8000_0743
      blackHole(unsafe entries[i & 511])
      unsafe entries[i & 511] = 0
      i &+= 1
    }
  }
}

/// Scale: 256 GiB as 4 KiB pages (64 M leaf entries, 128 Ki leaf tables: 512 MiB
/// of tables) built and torn down, with the peak resident memory.
func registerScale<Format: PageTableFormat>(_ name: String, _ format: Format) {
  Benchmark(
    "\(name): scale: map 256 GiB as 4 KiB pages, then unmap it",
    configuration: .init(
      metrics: [.wallClock, .peakMemoryResident, psPerPage], scalingFactor: .one,
      maxDuration: .seconds(20), maxIterations: 3)
  ) { benchmark in
    let memory = try! PhysicalMemory(
      configuration: PhysicalMemory.Configuration(byteCount: 1 << 30))
    let table = try! PageTable(format: format, physicalMemory: memory)
    let base: UInt64 = 0x400_0000_0000
    perPage(benchmark, pages: 1 << 26) {
      mapUnmapAndFlush(table, base, 256 << 30, physicalAddress: 0x8000_1000)
    }
  }
}

let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(maxDuration: .seconds(2), maxIterations: 100_000)
  registerStoreLimit(entries: 256)
  registerStoreLimit(entries: 262_144)
  registerSingleCallBaselines()
  register("ARM64 4K", try! ARM64Format(granule: .k4, inputBits: 48), base: 0x40_0000_0000)
  register("x86-64 4-level", try! X86_64Format(levels: 4), base: 0x40_0000_0000)
  register("RISC-V Sv48", RISCVFormat(.sv48), base: 0x40_0000_0000)
  registerScale("x86-64 4-level", try! X86_64Format(levels: 4))
}
