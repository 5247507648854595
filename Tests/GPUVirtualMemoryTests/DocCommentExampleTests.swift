import GPUVirtualMemory
import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// The examples in the doc comments of `Sources/GPUVirtualMemory`, one test each,
/// their lines as written there (after the setup they presuppose, such as `ram`,
/// `device` or `space`), with what their comments claim checked. A line that only
/// shows a value (`va.end  // 0x10_8000`) is run inside the `#expect` that checks it.
@Suite struct DocCommentExampleTests {
  /// A driver's page table for the `MapStep` example: records the VAs it maps.
  struct RecordedMappings {
    var mapped: [GPUVA] = []
    mutating func map(_ va: GPUVA) { mapped.append(va) }
  }

  /// A handler around the `MapStep` example's `map`, as written.
  struct Driver: PlanStepHandler {
    var pageTable = RecordedMappings()

    mutating func map(_ step: consuming MapStep, in space: inout GPUVASpace) -> PerformedStep {
      pageTable.map(step.va)  // the driver's side
      return step.perform(in: &space)  // the VA tree's side, and the proof
    }
    mutating func remap(_ step: consuming RemapStep, in space: inout GPUVASpace) -> PerformedStep {
      step.perform(in: &space)
    }
    mutating func unmap(_ step: consuming UnmapStep, in space: inout GPUVASpace) -> PerformedStep {
      step.perform(in: &space)
    }
  }

  /// The `GPUTLB` example's class, as written.
  final class PrintingTLB: GPUTLB {
    func invalidate(
      asid: Int, start: UInt64, size: UInt64, granule: UInt64,
      leafOnly: Bool
    ) { print("tlbi asid \(asid) …") }
    func invalidateASID(_ asid: Int) { print("tlbi asid \(asid)") }
  }

  // GPUTLB.swift: `GPUTLB`.
  @Test func gpuTLB() throws {
    let ram = try PhysicalMemory(configuration: .init(pageSize: 16384))
    let device = try GPUDevice(pageSource: PhysicalPageSource(ram), tlb: PrintingTLB())
    let vm = try GPUVM(
      device: device, format: AppleUATFormat(), tableMemory: PhysicalPageTableMemory(ram))
    let slot = try vm.bindToContext()  // the device invalidates the ASID through PrintingTLB
    #expect(device.contexts.tlb is PrintingTLB)
    #expect(slot == 1)
    #expect(vm.tearDown().isClean)
  }

  // TableDemand.swift: `TableDemand`.
  @Test func tableDemand() throws {
    let format = try AppleUATFormat()
    var demand = TableDemand(levels: format.geometry.levels)
    demand.addMap(virtualAddress: 0x10_0000, physicalAddress: 0x8010_0000, size: 0x4000)
    demand.addUnmapEdges(2)
    // Apple UAT: a 16 KiB map needs one table under the root and one leaf table;
    // no level above the last takes blocks, so unmap edges split nothing.
    #expect(format.geometry.levels.dropLast().allSatisfy { !$0.allowsLeaf })
    #expect(demand.counts == [0, 1, 1])
  }

  // ReservedTableMemory.swift: `ReservedTableMemory`.
  @Test func reservedTableMemory() throws {
    let ram = try PhysicalMemory(configuration: .init(pageSize: 16384))
    let memory = ReservedTableMemory(PhysicalPageTableMemory(ram))
    let table = try PageTable(format: AppleUATFormat(), memory: memory)
    // Outside a commit, the root came from `base`.
    #expect(memory.tablesInUse == table.rootCount)
    #expect(memory.reservedTables == 0)
  }

  // PlanSteps.swift: `MapStep`.
  @Test func mapStep() throws {
    var space = try GPUVASpace(start: 0x4000, range: 1 << 39, pageSize: 0x4000)
    let plan = try space.planMap(
      MapRequest(address: 0x10_0000, range: 0x8000, backing: .object(BufferObjectID(1), offset: 0)))
    var driver = Driver()
    try space.apply(plan, handler: &driver)
    let va = GPUVA(
      address: 0x10_0000, range: 0x8000, backing: .object(BufferObjectID(1), offset: 0))
    #expect(driver.pageTable.mapped == [va])
    #expect(space.vas == [va])
  }

  // BackingPageSource.swift: `BackingPageSource`.
  @Test func backingPageSource() throws {
    let source = PhysicalPageSource(try PhysicalMemory())
    var allocated: UInt64? = nil
    if let block = source.allocateBlock(order: 2) {  // 4 pages, physically contiguous
      allocated = block
      source.freeBlock(at: block, order: 2)
    }
    let block = try #require(allocated)
    #expect(block % (4 * source.pageSize) == 0)
    #expect(source.physicalMemory.leakReport().isEmpty)
  }

  // FenceSignallingSection.swift: `FenceSignallingSection`.
  @Test func fenceSignallingSection() {
    let section = FenceSignallingSection()
    // an allocator that must not run during commit:
    precondition(!section.isInside, "allocation in the fence-signalling path")
    #expect(!section.isInside)
  }

  // BufferObject.swift: `BufferObject`.
  @Test func bufferObject() throws {
    let ram = try PhysicalMemory(configuration: .init(pageSize: 16384))
    let device = try GPUDevice(pageSource: PhysicalPageSource(ram))
    let object = try device.makeObject(size: 0x10000)  // no pages yet
    #expect(object.residentChunkCount == 0)  // 0
  }

  // GPUVA.swift: `BufferObjectID`.
  @Test func bufferObjectID() {
    let id = BufferObjectID(7)
    #expect(id.rawValue == 7)
  }

  // GPUVA.swift: `VABacking`.
  @Test func vaBacking() {
    let plain = VABacking.object(BufferObjectID(1), offset: 0x4000)
    let scratch = VABacking.repeated(BufferObjectID(2), offset: 0, range: 0x4000)
    #expect(plain.offset(after: 0x8000) == 0xc000)  // 0xc000
    #expect(scratch.offset(after: 0x8000) == 0)  // 0: the same page again
  }

  // GPUVA.swift: `GPUVA`.
  @Test func gpuVA() {
    let va = GPUVA(
      address: 0x10_0000, range: 0x8000,
      backing: .object(BufferObjectID(1), offset: 0), protection: .readWrite)
    #expect(va.end == 0x10_8000)  // 0x10_8000
  }

  // ContextTable.swift: `ContextTable`.
  @Test func contextTable() throws {
    let root: UInt64 = 0x8000_4000
    let tlb = RecordingGPUTLB()
    var contexts = try ContextTable(slotCount: 64, asidCount: 64, tlb: tlb)
    let slot = try contexts.bind(vmID: 7, register: { asid in root | 1 | UInt64(asid) << 48 })
    #expect(contexts.registers[slot] == root | 1 | 1 << 48)  // what the GPU reads
    contexts.unbind(vmID: 7)  // invalidates the ASID, clears the slot
    #expect(contexts.registers[slot] == 0)
    #expect(tlb.commands == [.asid(1), .asid(1)])
  }

  // ContextTable.swift: `ASIDAllocator`.
  @Test func asidAllocator() {
    var asids = ASIDAllocator(count: 64)
    let a = asids.allocate()  // 0
    #expect(a == 0)
    asids.free(a!)
    #expect(asids.takenCount == 0)
  }

  // GPUVM.swift: `GPUVM`.
  @Test func gpuVM() throws {
    let ram = try PhysicalMemory(configuration: .init(pageSize: 16384))
    let tlb = RecordingGPUTLB()
    let device = try GPUDevice(pageSource: PhysicalPageSource(ram), tlb: tlb)
    let object = try device.makeObject(size: 0x10000)
    let vm = try GPUVM(
      device: device, format: AppleUATFormat(),
      tableMemory: PhysicalPageTableMemory(ram))
    try vm.bindToContext()
    let before = tlb.commands.count
    let plan = try vm.space.planMap(
      MapRequest(
        address: 0x10_0000, range: 0x10000,
        backing: .object(object.id, offset: 0)))
    let prepared = try vm.prepare(plan)  // may fail; then nothing changed
    let done = vm.commit(prepared)  // cannot fail, allocates nothing
    let report = vm.complete(done)  // at most one TLB invalidation, then frees
    #expect(report.mappedBytes == 0x10000)
    // A map into empty entries needs none; the VM is in a context slot, so one
    // would have reached the TLB.
    #expect(report.invalidation == nil)
    #expect(tlb.commands.count == before)
    #expect(vm.tearDown().isClean)
  }

  // GPUDevice.swift: `GPUDevice`.
  @Test func gpuDevice() throws {
    let ram = try PhysicalMemory(configuration: .init(pageSize: 16384))
    let device = try GPUDevice(pageSource: PhysicalPageSource(ram))
    let object = try device.makeObject(size: 0x10000)
    let vm = try GPUVM(
      device: device, format: AppleUATFormat(),
      tableMemory: PhysicalPageTableMemory(ram))
    #expect(device.object(object.id) === object)
    #expect(vm.space.count == 0)
  }

  // GPUVAPlan.swift: `MapRequest`.
  @Test func mapRequest() {
    let request = MapRequest(
      address: 0x10_0000, range: 0x10000,
      backing: .object(BufferObjectID(1), offset: 0))
    #expect(request.va.end == 0x11_0000)
  }

  // GPUVAPlan.swift: `GPUVAPlan`; PlanStepList.swift: `PlanStepList` (the same plan).
  @Test func gpuVAPlan() throws {
    let space = try GPUVASpace(start: 0x4000, range: 1 << 39, pageSize: 0x4000)
    let plan = try space.planMap(
      MapRequest(
        address: 0x4000, range: 0x4000,
        backing: .object(BufferObjectID(1), offset: 0)))
    for step in plan.steps { print(step) }
    #expect(plan.steps.map(\.description) == ["map [0x4000, +0x4000) bo1@0x0"])
    #expect(plan.steps.count == 1)
    #expect(!plan.steps.isAllocated)
    #expect(plan.steps.description == "[map [0x4000, +0x4000) bo1@0x0]")
  }

  // VATree.swift: `VATree`.
  @Test func vaTree() {
    var tree = VATree()
    _ = tree.insert(GPUVA(address: 0x4000, range: 0x4000, backing: .sparse))
    let node = tree.firstOverlap(start: 0x6000, end: 0x9000)  // the node of that VA
    #expect(node.map { tree[$0] } == GPUVA(address: 0x4000, range: 0x4000, backing: .sparse))
  }

  // GPUVASpace.swift: `GPUVASpace`.
  @Test func gpuVASpace() throws {
    var space = try GPUVASpace(
      start: 0x4000, range: 1 << 39, pageSize: 0x4000,
      reservedKernelNode: (1 << 39) - 0x100_0000..<1 << 39)
    let plan = try space.planMap(
      MapRequest(
        address: 0x10_0000, range: 0x8000,
        backing: .object(BufferObjectID(1), offset: 0)))
    try space.apply(plan)  // or apply(plan, handler:) to drive a page table step by step
    #expect(space.vas.map(\.description) == ["[0x100000, +0x8000) bo1@0x0"])
  }
}
