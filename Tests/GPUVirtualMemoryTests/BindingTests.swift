import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

@testable import GPUVirtualMemory

@Suite struct BindingTests {
  let k16: UInt64 = 0x4000

  @Test func aBindMapsTheObjectsPagesAndAnUnbindOfTheMiddleKeepsTheRest() throws {
    let rig = try Rig(pageSize: 16384)
    let vm = try rig.vm(AppleUATFormat())
    let object = try rig.device.makeObject(size: 0x10000)
    #expect(object.residentChunkCount == 0, "pages come when first bound")
    let report = try vm.bind(object, at: 0x10_0000, range: 0x10000)
    #expect(report.mappedBytes == 0x10000)
    #expect(object.residentChunkCount == 4 && object.totalPins == 0x10000)
    #expect(vm.linkedObjects == [object.id] && object.mappingVMs == [vm.id])
    #expect(
      translationsMatchTheVAs(vm, device: rig.device, start: 0x10_0000, end: 0x11_0000).isEmpty)

    let unbind = try vm.unbind(at: 0x10_4000, range: 0x8000)
    #expect(unbind.unmappedBytes == 0x8000 && unbind.unpinnedBytes == 0x8000)
    #expect(vm.space.vas.map(\.range) == [0x4000, 0x4000])
    #expect(vm.pageTable.translate(0x10_4000) == nil && vm.pageTable.translate(0x10_8000) == nil)
    #expect(
      translationsMatchTheVAs(vm, device: rig.device, start: 0x10_0000, end: 0x11_0000).isEmpty)
    #expect(object.pinCount(at: 0x4000) == 0 && object.pinCount(at: 0) == 0x4000)
    #expect(vm.vaCount(of: object.id) == 2)

    try vm.unbind(at: 0x10_0000, range: 0x10000)
    #expect(vm.linkedObjects.isEmpty && object.mappingVMs.isEmpty, "the link goes with its last VA")
    #expect(vm.tearDown().isClean)
  }

  /// Commit draws tables only from prepare's reservation, pages only from
  /// prepare's pins, tree nodes from the reserved free list, and fills lists and a
  /// gather whose room prepare made: the table memory and the page allocator
  /// (which trap when called inside the commit's section) see no call, and every
  /// buffer the commit writes (the gather's table list, the unpin, keep and link
  /// lists, the tree's nodes, the links) has the same address and capacity after
  /// the commit as before it, so none grew or was copied on write. That covers
  /// maps of blocks and pages, a block split, a repeat bind, an unmap that unlinks
  /// more tables than a gather holds inline and a plan of more steps than a list
  /// holds inline. (The Swift heap is not hooked here; the benchmark "commit of a
  /// 64 KiB bind" counts the process's mallocs during a commit.)
  @Test func commitAllocatesNothing() throws {
    let rig = try Rig(pageSize: 4096)
    let vm = try rig.vm(ARM64Format(granule: .k4, inputBits: 48), cachedTables: 0)
    let object = try rig.device.makeObject(size: 4 << 20, chunkSize: 2 << 20)
    let pages = try rig.device.makeObject(size: 64 * 0x1000)
    @discardableResult
    func commitWithoutAllocating(_ plan: GPUVAPlan) throws -> BindReport {
      let prepared = try vm.prepare(plan)
      let before = rig.rules.calls.load(ordering: .relaxed)
      let done = vm.commit(prepared)
      #expect(rig.rules.calls.load(ordering: .relaxed) == before)
      let storage = try #require(vm.lastCommit)
      #expect(storage.before == storage.after, "a commit's buffers stay put: \(plan.steps)")
      #expect(storage.unlinkedTables <= storage.before.gatherCapacity)
      let report = vm.complete(done)
      #expect(report.tablesFreed == storage.unlinkedTables)
      #expect(
        translationsMatchTheVAs(vm, device: rig.device, start: 0x4000_0000, end: 0x4ce0_0000)
          .isEmpty)
      return report
    }
    try commitWithoutAllocating(
      vm.space.planMap(
        MapRequest(address: 0x4000_0000, range: 4 << 20, backing: .object(object.id, offset: 0))))
    try commitWithoutAllocating(
      vm.space.planMap(
        MapRequest(
          address: 0x4010_0000, range: 64 * 0x1000, backing: .object(pages.id, offset: 0))))
    try commitWithoutAllocating(vm.space.planUnmap(address: 0x4000_1000, range: 0x3000))
    try commitWithoutAllocating(
      vm.space.planMap(
        MapRequest(
          address: 0x7f_0000_0000, range: 8 * 0x1000,
          backing: .repeated(pages.id, offset: 0, range: 0x2000))))
    // Single pages in six 2 MiB regions: a page table each.
    for region in 0..<6 as Range<UInt64> {
      try commitWithoutAllocating(
        vm.space.planMap(
          MapRequest(
            address: 0x4c00_0000 + region << 21, range: 0x1000,
            backing: .object(pages.id, offset: region * 0x1000))))
    }
    let unbind = try commitWithoutAllocating(
      vm.space.planUnmap(address: 0x4000_0000, range: 1 << 30))
    #expect(unbind.steps.count > PlanStepList.inlineCapacity && unbind.steps.isAllocated)
    #expect(unbind.tablesFreed > 4, "more tables than a gather holds inline")
    #expect(vm.tearDown().isClean)
  }

  @Test func anIdenticalRebindKeepsTheEntries() throws {
    let rig = try Rig(pageSize: 16384)
    let vm = try rig.vm(AppleUATFormat())
    let object = try rig.device.makeObject(size: 0x14000)
    try vm.bind(object, at: 0x10_0000, range: 0x10000)
    let again = try vm.bind(object, at: 0x10_0000, range: 0x10000)
    #expect(again.keptBytes == 0x10000 && again.mappedBytes == 0 && again.unmappedBytes == 0)
    #expect(object.totalPins == 0x10000)
    // Growing it keeps the old part and maps only the new one (diagram 4).
    let grown = try vm.bind(object, at: 0x10_0000, range: 0x14000)
    #expect(grown.keptBytes == 0x10000 && grown.mappedBytes == 0x4000 && grown.unmappedBytes == 0)
    #expect(object.totalPins == 0x14000)
    #expect(
      translationsMatchTheVAs(vm, device: rig.device, start: 0x0f_0000, end: 0x12_0000).isEmpty)
    #expect(vm.tearDown().isClean)
  }

  @Test func aContiguousTwoMebibyteChunkBecomesABlock() throws {
    let rig = try Rig(pageSize: 4096)
    let vm = try rig.vm(ARM64Format(granule: .k4, inputBits: 48))
    let object = try rig.device.makeObject(size: 4 << 20, chunkSize: 2 << 20)
    try vm.bind(object, at: 0x4000_0000, range: 4 << 20)
    #expect(vm.pageTable.translate(0x4000_0000)?.pageSize == 2 << 20)
    #expect(vm.pageTable.translate(0x4020_0000)?.pageSize == 2 << 20)
    // Misaligned VA: the largest leaf the alignment allows is a 64 KiB contiguous run
    // or a page, never a block.
    try vm.bind(object, at: 0x8000_1000, range: 2 << 20)
    #expect(vm.pageTable.translate(0x8000_1000)!.pageSize < 2 << 20)
    // Unbinding a page inside a block splits it with a reserved table.
    let split = try vm.unbind(at: 0x4000_1000, range: 0x1000)
    #expect(split.reservedTablesPerLevel.reduce(0, +) > 0)
    #expect(vm.pageTable.translate(0x4000_0000)?.pageSize == 0x1000)
    #expect(
      translationsMatchTheVAs(vm, device: rig.device, start: 0x4000_0000, end: 0x4040_0000).isEmpty)
    #expect(vm.tearDown().isClean)
  }

  @Test func aRepeatedBindMapsOnePageAllOver() throws {
    let rig = try Rig(pageSize: 16384)
    let vm = try rig.vm(AppleUATFormat())
    let scratch = try rig.device.makeObject(size: k16)
    try vm.bindRepeated(scratch, window: k16, at: 0x100_0000, range: 64 * k16)
    let page = scratch.physicalAddress(at: 0)!
    for i in [0, 1, 31, 63] as [UInt64] {
      #expect(vm.pageTable.translate(0x100_0000 + i * k16)?.physicalAddress == page)
    }
    #expect(scratch.totalPins == Int(64 * k16))
    // Bind a real object into the middle of the sparse range, then take it out again.
    let object = try rig.device.makeObject(size: 2 * k16)
    try vm.bind(object, at: 0x100_0000 + 10 * k16, range: 2 * k16)
    #expect(vm.space.vas.count == 3)
    #expect(
      translationsMatchTheVAs(vm, device: rig.device, start: 0x100_0000, end: 0x110_0000).isEmpty)
    #expect(vm.tearDown().isClean)
    #expect(scratch.totalPins == 0 && object.totalPins == 0)
  }

  @Test func madviseSplitsSparseVAsWithoutTouchingThePageTable() throws {
    let rig = try Rig(pageSize: 16384)
    let vm = try rig.vm(AppleUATFormat())
    try vm.bindSparse(at: 0x100_0000, range: 8 * k16)
    let report = try vm.madvise(at: 0x100_0000 + k16, range: 2 * k16, protection: .readOnly)
    #expect(report.mappedBytes == 0 && report.unmappedBytes == 0 && report.invalidation == nil)
    #expect(vm.space.vas.map(\.protection) == [.readWrite, .readOnly, .readWrite])
    #expect(vm.tearDown().isClean)
  }

  @Test func unbindAndRebindPatterns() throws {
    let rig = try Rig(pageSize: 16384)
    let vm = try rig.vm(AppleUATFormat())
    let object = try rig.device.makeObject(size: 8 * k16)
    let base: UInt64 = 0x200_0000
    // Partial unbinds at the front, the end, the middle, and across each side.
    let holes: [(UInt64, UInt64)] = [(0, 1), (7, 8), (3, 5), (0, 2), (6, 8), (2, 6)]
    for (from, to) in holes {
      try vm.bind(object, at: base, range: 8 * k16)
      try vm.unbind(at: base + from * k16, range: (to - from) * k16)
      #expect(
        translationsMatchTheVAs(vm, device: rig.device, start: base, end: base + 8 * k16).isEmpty)
      #expect(object.totalPins == Int((8 - (to - from)) * k16))
      // Rebinding the hole with the same pages restores the whole binding.
      try vm.bind(object, offset: from * k16, at: base + from * k16, range: (to - from) * k16)
      #expect(object.totalPins == Int(8 * k16))
      #expect(
        translationsMatchTheVAs(vm, device: rig.device, start: base, end: base + 8 * k16).isEmpty)
      try vm.unbind(at: base, range: 8 * k16)
    }
    // Many VAs of one object: one link.
    for i in 0..<10 as Range<UInt64> {
      try vm.bind(object, offset: i % 8 * k16, at: base + i * 4 * k16, range: k16)
    }
    #expect(vm.linkedObjects == [object.id] && vm.vaCount(of: object.id) == 10)
    #expect(
      translationsMatchTheVAs(vm, device: rig.device, start: base, end: base + 40 * k16).isEmpty)
    // One object bound many times in many VMs.
    let others = try (0..<4).map { _ in try rig.vm(AppleUATFormat()) }
    for other in others { try other.bind(object, at: 0x300_0000, range: 8 * k16) }
    #expect(Set(object.mappingVMs) == Set([vm.id] + others.map(\.id)))
    for other in others {
      #expect(
        translationsMatchTheVAs(other, device: rig.device, start: 0x300_0000, end: 0x302_0000)
          .isEmpty)
      #expect(other.tearDown().isClean)
    }
    #expect(object.mappingVMs == [vm.id])
    #expect(vm.tearDown().isClean)
    #expect(object.totalPins == 0)
  }

  @Test func badRequestsAreTypedErrorsAndChangeNothing() throws {
    let rig = try Rig(pageSize: 16384)
    let vm = try rig.vm(AppleUATFormat())
    let object = try rig.device.makeObject(size: 2 * k16)
    try vm.bind(object, at: 0x10_0000, range: 2 * k16)
    let before = vm.space.vas
    #expect(throws: GPUVMError.outsideObject(object: object.id, offset: k16, range: 2 * k16)) {
      try vm.bind(object, offset: k16, at: 0x20_0000, range: 2 * k16)
    }
    #expect(throws: GPUVMError.unknownObject(BufferObjectID(99))) {
      try vm.bind(
        vm.space.planMap(
          MapRequest(
            address: 0x20_0000, range: k16, backing: .object(BufferObjectID(99), offset: 0))))
    }
    let executeWithoutUser = Protection(read: true, execute: true)
    #expect(throws: GPUVMError.pageTable(.unsupportedProtection(executeWithoutUser))) {
      try vm.bind(object, at: 0x20_0000, range: k16, protection: executeWithoutUser)
    }
    let stale = try vm.space.planUnmap(address: 0x10_0000, range: k16)
    try vm.unbind(at: 0x10_4000, range: k16)
    #expect(throws: GPUVMError.stalePlan) { try vm.bind(stale) }
    let prepared = try vm.prepare(vm.space.planUnmap(address: 0x10_0000, range: k16))
    #expect(throws: GPUVMError.bindInProgress) { try vm.unbind(at: 0x10_0000, range: k16) }
    vm.abort(prepared)
    #expect(vm.space.vas == [before[0]].map { $0.slice(from: 0x10_0000, to: 0x10_4000) })
    #expect(vm.tearDown().isClean)
  }

  @Test func aDroppedStepTrapsWithItsName() async {
    await #expect(processExitsWith: .failure) {
      struct Dropper: PlanStepHandler {
        mutating func map(_ step: consuming MapStep, in space: inout GPUVASpace) -> PerformedStep {
          _ = consume step
          fatalError("unreachable: the dropped step traps first")
        }
        mutating func remap(_ step: consuming RemapStep, in space: inout GPUVASpace)
          -> PerformedStep
        {
          step.perform(in: &space)
        }
        mutating func unmap(_ step: consuming UnmapStep, in space: inout GPUVASpace)
          -> PerformedStep
        {
          step.perform(in: &space)
        }
      }
      var space = try! GPUVASpace(start: 0, range: 1 << 20, pageSize: 0x1000)
      var dropper = Dropper()
      try! space.apply(
        space.planMap(MapRequest(address: 0, range: 0x1000, backing: .sparse)), handler: &dropper)
    }
  }
}
