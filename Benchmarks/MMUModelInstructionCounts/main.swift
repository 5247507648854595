// Instruction-count driver for callgrind: runs one MMU-model operation `count`
// times on ARM64 4K tables in `PhysicalPages` memory, so the instructions per
// operation are the difference between two counts divided by the difference of
// the counts (what the set-up costs cancels out). Callgrind counts are repeatable
// on a shared machine where wall-clock times are not.
//
//   bash Benchmarks/mmu-instruction-counts.sh        # every operation, two counts each
//
// Operations (count is in accesses, or entry writes):
//   hit-off, hit-on     a TLB hit (checking off, on): 64 pages in four runs, all cached
//   miss-off, miss-on   a walk: 4096 pages without runs, a 16-entry TLB
//   write-sync          an entry written in a live leaf table, then `synchronize()`
//   write-told          the same write, told with `entryWritten(table:index:)`
//   write-fill          leaves written into empty entries of 60 leaf tables, each
//                       told with `entryWritten(table:index:)` (a map's writes; count
//                       at most 30,660)
import MMUModel
import PageTables
import PhysicalPageTables
import PhysicalPages

@inline(never)
func sink<T>(_ value: T) {
  withExtendedLifetime(value) {}
}

let base: UInt64 = 0x40_0000_0000

func run(operation: String, count: Int) {
  let ram = try! PhysicalMemory(configuration: PhysicalMemory.Configuration(byteCount: 256 << 20))
  let memory = PhysicalPageTableMemory(ram)
  let format = try! ARM64Format(granule: .k4, inputBits: 48)
  var configuration = MMUConfiguration()
  configuration.checking = operation.hasSuffix("-off") ? .off : .report
  if operation.hasPrefix("miss") { configuration.tlbEntries = 16 }
  let mmu = try! MMU(format: format, memory: memory, configuration: configuration)
  let table = try! PageTable(format: format, memory: mmu.observing(memory))
  let space = mmu.attach(table, asid: 1)
  func map(_ va: UInt64, _ size: UInt64) {
    try! table.map(
      virtualAddress: va, physicalAddress: 0x1_0000_0000 + va, size: size, protection: .readWrite)
  }
  var total: UInt64 = 0
  switch operation {
  case "hit-off", "hit-on":
    map(base, 64 * 4096)
    let addresses = (0..<1024).map { base + UInt64($0 % 64) * 4096 + UInt64($0 * 8 % 4096) }
    for address in addresses { _ = try! mmu.access(address, in: space) }
    for i in 0..<count { total &+= try! mmu.access(addresses[i & 1023], in: space).physicalAddress }
  case "miss-off", "miss-on":
    for page in stride(from: 0, to: 8192, by: 2) { map(base + UInt64(page) * 4096, 4096) }
    var state: UInt64 = 42
    for _ in 0..<count {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let address = base + (state >> 33) % 4096 * 8192
      total &+= try! mmu.access(address, in: space).physicalAddress
    }
  case "write-sync", "write-told":
    // Two pages keep the tables; the entry between them is written (valid, then empty).
    map(base, 4096)
    map(base + 2 * 4096, 4096)
    mmu.synchronize()
    let leafTable = leafTableAddress(table, base)
    let leaf = format.leafEntry(
      template: try! format.leafTemplate(for: .readWrite, level: 3),
      physicalAddress: 0x1_0000_1000, level: 3)
    let told = operation == "write-told"
    for i in 0..<count {
      let value: UInt64 = i & 1 == 0 ? leaf : 0
      memory.withTable(at: leafTable, byteCount: 4096) { $0.store(1, value) }
      if told {
        try! mmu.entryWritten(table: leafTable, index: 1)
      } else {
        mmu.synchronize()
      }
    }
  case "write-fill":
    // Entry 0 of each of 60 leaf tables keeps it; entries 1…511 are written in turn.
    let tables = (0..<60).map { n -> UInt64 in
      map(base + UInt64(n) << 21, 4096)
      return leafTableAddress(table, base + UInt64(n) << 21)
    }
    mmu.synchronize()
    let leaf = format.leafEntry(
      template: try! format.leafTemplate(for: .readWrite, level: 3),
      physicalAddress: 0x1_0000_1000, level: 3)
    precondition(count <= 60 * 511, "write-fill: at most 30,660 writes")
    for i in 0..<count {
      let (table, index) = (tables[i / 511], 1 + i % 511)
      memory.withTable(at: table, byteCount: 4096) { $0.store(index, leaf) }
      try! mmu.entryWritten(table: table, index: index)
    }
    // Unmapped behind the engine's back (every table whole, whatever the count), so
    // its teardown finds only its own entry 0 in each table.
    mmu.detach(space)
    for table in tables {
      memory.withTable(at: table, byteCount: 4096) { view in
        for index in 1..<512 { view.store(index, 0) }
      }
    }
  default:
    fatalError("unknown operation \(operation)")
  }
  sink(total)
  sink(mmu.reports.count)
  mmu.detach(space)  // before the table (and its tables) go away, unjudged
}

/// The physical address of the last-level table translating `va`.
func leafTableAddress<Memory: TableMemory>(
  _ table: PageTable<ARM64Format, Memory>, _ va: UInt64
) -> UInt64 {
  var address = table.rootAddress()
  for level in 0..<(table.depth - 1) {
    let shape = table.level(level)
    let index = Int((va >> UInt64(shape.shift)) & UInt64(shape.entryCount - 1))
    let entry = table.memory.withTable(at: address, byteCount: shape.tableBytes) { $0.load(index) }
    address = table.format.tableAddress(of: entry, level: level)
  }
  return address
}

let arguments = CommandLine.arguments
let count = arguments.count == 3 ? Int(arguments[2]) ?? -1 : -1
if count < 0 { fatalError("usage: MMUModelInstructionCounts OPERATION COUNT") }
run(operation: arguments[1], count: count)
