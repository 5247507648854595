// Instruction-count driver for callgrind: runs one page-table operation `count`
// times, so the instructions per call are the difference between two counts
// divided by the difference of the counts (what the set-up costs cancels out).
// Callgrind counts are repeatable on a shared machine where wall-clock times are not.
//
//   swift build -c release --package-path Benchmarks --product InstructionCounts
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//     Benchmarks/.build/release/InstructionCounts translate arm64 1000
//
// Operations: translate, map-unmap-kept (1 × 4 KiB, tables kept), their
// exclusive-access forms exclusive-translate and exclusive-map-unmap-kept (an
// ExclusivePageTable), bulk-4k
// (map+unmap 1 GiB as 4 KiB pages; count is in GiB), runs-2m (map+unmap 256 ×
// 2 MiB aligned, runs on), runs-2m-off (the same, runs off), runs-4k (map+unmap
// 2 MiB as 4 KiB pages at VA = PA modulo 64 KiB, runs on), runs-4k-off.
// Formats: arm64, x86, riscv.
import PageTables
import PhysicalPageTables
import PhysicalPages

struct NoTLB: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}

@inline(never)
func sink<T>(_ value: T) {
  withExtendedLifetime(value) {}
}

func run<Format: PageTableFormat>(_ format: Format, operation: String, count: Int) {
  let memory = try! PhysicalMemory(
    configuration: PhysicalMemory.Configuration(byteCount: 512 << 20))
  let base: UInt64 = 0x40_0000_0000
  let runsOff = operation.hasSuffix("-off")
  let table = try! PageTable(
    format: format, memory: PhysicalPageTableMemory(memory),
    options: PageTableOptions(useContiguousRuns: !runsOff))
  func mapAndUnmap(_ va: UInt64, _ pa: UInt64, _ size: UInt64) {
    try! table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: .readWrite)
    var gather = TLBGather(invalidator: NoTLB())
    _ = try! table.unmap(virtualAddress: va, size: size, gather: &gather)
    table.flush(&gather)
  }
  if operation.hasPrefix("exclusive-") {
    runExclusive(format, operation: operation, count: count, memory: memory, base: base)
    return
  }
  switch operation {
  case "translate":
    try! table.map(
      virtualAddress: base, physicalAddress: 0x8000_1000, size: 256 << 20, protection: .readWrite)
    translateRandom(count: count, base: base) { table.translate($0) }
    mapAndUnmapCleanup(table, base, 256 << 20)
  case "map-unmap-kept":
    try! table.map(
      virtualAddress: base + 4096, physicalAddress: 0x8000_0000, size: 4096,
      protection: .readWrite)
    for _ in 0..<count { mapAndUnmap(base, 0x8000_0000, 4096) }
    mapAndUnmapCleanup(table, base + 4096, 4096)
  case "bulk-4k":
    for _ in 0..<count { mapAndUnmap(base, 0x8000_1000, 1 << 30) }
  case "runs-2m", "runs-2m-off":
    for _ in 0..<count { mapAndUnmap(base, 0x8000_0000, 256 << 21) }
  case "runs-4k", "runs-4k-off":
    for _ in 0..<count { mapAndUnmap(base, 0x8001_0000, 1 << 30) }
  default:
    fatalError("unknown operation \(operation)")
  }
}

/// Translates `count` random addresses of the 256 MiB mapped at `base`.
@inline(__always)
func translateRandom(count: Int, base: UInt64, _ translate: (UInt64) -> Translation?) {
  var random = SplitMix(seed: 42)
  var total: UInt64 = 0
  for _ in 0..<count {
    total &+= translate(base + random.next() % (256 << 20))?.physicalAddress ?? 0
  }
  sink(total)
}

/// The exclusive-access forms of translate and map-unmap-kept, on an ExclusivePageTable.
func runExclusive<Format: PageTableFormat>(
  _ format: Format, operation: String, count: Int, memory: PhysicalMemory, base: UInt64
) {
  var table = try! ExclusivePageTable(format: format, memory: PhysicalPageTableMemory(memory))
  func unmap(_ va: UInt64, _ size: UInt64) {
    var gather = TLBGather(invalidator: NoTLB())
    _ = try! table.unmap(virtualAddress: va, size: size, gather: &gather)
    table.flush(&gather)
  }
  switch operation {
  case "exclusive-translate":
    try! table.map(
      virtualAddress: base, physicalAddress: 0x8000_1000, size: 256 << 20, protection: .readWrite)
    translateRandom(count: count, base: base) { table.translate($0) }
    unmap(base, 256 << 20)
  case "exclusive-map-unmap-kept":
    try! table.map(
      virtualAddress: base + 4096, physicalAddress: 0x8000_0000, size: 4096,
      protection: .readWrite)
    for _ in 0..<count {
      try! table.map(
        virtualAddress: base, physicalAddress: 0x8000_0000, size: 4096, protection: .readWrite)
      unmap(base, 4096)
    }
    unmap(base + 4096, 4096)
  default:
    fatalError("unknown operation \(operation)")
  }
}

func mapAndUnmapCleanup<Format>(
  _ table: PageTable<Format, PhysicalPageTableMemory>, _ va: UInt64, _ size: UInt64
) {
  var gather = TLBGather(invalidator: NoTLB())
  _ = try! table.unmap(virtualAddress: va, size: size, gather: &gather)
  table.flush(&gather)
}

struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

let arguments = CommandLine.arguments
let count = arguments.count == 4 ? Int(arguments[3]) ?? -1 : -1
if count < 0 { fatalError("usage: InstructionCounts OPERATION arm64|x86|riscv COUNT") }
switch arguments[2] {
case "arm64":
  run(try! ARM64Format(granule: .k4, inputBits: 48), operation: arguments[1], count: count)
case "x86": run(try! X86_64Format(levels: 4), operation: arguments[1], count: count)
case "riscv": run(RISCVFormat(.sv48), operation: arguments[1], count: count)
default: print("unknown format \(arguments[2])")
}
