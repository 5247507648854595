import GPUVirtualMemory
import PageTables
import PhysicalPageTables
import PhysicalPages
import Synchronization

/// The allocation rules a test imposes: trap when anything allocates inside a
/// commit (the fence-signalling section), and optionally fail the n-th
/// allocation (fault injection).
final class AllocationRules: Sendable {
  /// The section the VMs under test commit in.
  let section = FenceSignallingSection()
  /// Allocations so far.
  let calls = Atomic<Int>(0)
  /// The allocation (by number, from 0) that fails, or -1 for none.
  let failing = Atomic<Int>(-1)

  /// Counts an allocation; false when this one is to fail. Traps inside a commit.
  func allow(_ what: String) -> Bool {
    precondition(!section.isInside, "\(what) allocated inside a commit")
    let n = calls.wrappingAdd(1, ordering: .relaxed).oldValue
    return n != failing.load(ordering: .relaxed)
  }
}

/// Table memory on physical pages that obeys ``AllocationRules``.
struct RuledTableMemory: TableMemory {
  let base: PhysicalPageTableMemory
  let rules: AllocationRules

  func allocateTable(byteCount: Int) -> UInt64? {
    rules.allow("table memory") ? base.allocateTable(byteCount: byteCount) : nil
  }
  func freeTable(at physicalAddress: UInt64, byteCount: Int) {
    base.freeTable(at: physicalAddress, byteCount: byteCount)
  }
  func withTable<R>(at physicalAddress: UInt64, byteCount: Int, _ body: (TableView) -> R) -> R {
    base.withTable(at: physicalAddress, byteCount: byteCount, body)
  }
  func unsafeTable(at physicalAddress: UInt64, byteCount: Int) -> TableView {
    unsafe base.unsafeTable(at: physicalAddress, byteCount: byteCount)
  }
}

/// Object pages from physical memory that obey ``AllocationRules``.
final class RuledPageSource: BackingPageSource {
  let base: PhysicalPageSource
  let rules: AllocationRules
  init(_ base: PhysicalPageSource, _ rules: AllocationRules) {
    self.base = base
    self.rules = rules
  }
  var pageSize: UInt64 { base.pageSize }
  func allocateBlock(order: Int) -> UInt64? {
    rules.allow("the page allocator") ? base.allocateBlock(order: order) : nil
  }
  func freeBlock(at physicalAddress: UInt64, order: Int) {
    base.freeBlock(at: physicalAddress, order: order)
  }
  func read(at physicalAddress: UInt64, count: Int) -> [UInt8] {
    base.read(at: physicalAddress, count: count)
  }
  func write(_ bytes: [UInt8], at physicalAddress: UInt64) {
    base.write(bytes, at: physicalAddress)
  }
}

/// A machine, a device and a way to make VMs, all under one set of rules.
struct Rig {
  let ram: PhysicalMemory
  let rules = AllocationRules()
  let device: GPUDevice
  let tlb = RecordingGPUTLB()

  init(pageSize: Int = 4096, megabytes: Int = 64) throws {
    ram = try PhysicalMemory(configuration: .init(byteCount: megabytes << 20, pageSize: pageSize))
    device = try GPUDevice(
      pageSource: RuledPageSource(PhysicalPageSource(ram), rules), tlb: tlb)
  }

  /// A VM of `format` whose tables obey the rules.
  func vm<Format: PageTableFormat>(
    _ format: Format, cachedTables: Int = 16, start: UInt64? = nil, range: UInt64? = nil
  ) throws -> GPUVM<Format, RuledTableMemory> {
    try GPUVM(
      device: device, format: format,
      tableMemory: RuledTableMemory(base: PhysicalPageTableMemory(ram), rules: rules),
      start: start, range: range, signalling: rules.section, cachedTables: cachedTables)
  }
}

/// Whether every page of `vm`'s VAs translates to its object's page, and nothing
/// else translates in `[start, end)`.
func translationsMatchTheVAs<Format, Base>(
  _ vm: GPUVM<Format, Base>, device: GPUDevice, start: UInt64, end: UInt64
) -> [String] {
  var problems: [String] = []
  let page = vm.space.pageSize
  var address = start
  while address < end {
    let translated = vm.pageTable.translate(address)?.physicalAddress
    var expected: UInt64? = nil
    if let va = vm.space.va(containing: address), !va.isEvicted, let id = va.backing.object {
      expected = device.object(id)?.physicalAddress(
        at: va.backing.offset(after: address - va.address))
      if expected == nil { problems.append("0x\(String(address, radix: 16)): object page missing") }
    }
    if translated != expected {
      problems.append(
        "0x\(String(address, radix: 16)) translates to \(translated.map { String($0, radix: 16) } ?? "nil"), "
          + "expected \(expected.map { String($0, radix: 16) } ?? "nil")")
    }
    address += page
  }
  return problems
}
