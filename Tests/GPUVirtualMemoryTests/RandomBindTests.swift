import GPUVirtualMemory
import MMUModel
import PageTables
import PageTablesTools
import PhysicalPageTables
import PhysicalPages
import Testing

/// The GPU's TLB as the MMU model: a bind's invalidations become the model's
/// by-ASID commands.
final class ModelTLB<Format: PageTableFormat, Memory: TableMemory>: GPUTLB {
  let mmu: MMU<Format, Memory>
  init(_ mmu: MMU<Format, Memory>) { self.mmu = mmu }
  func invalidate(asid: Int, start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    mmu.invalidate(
      .asidRange(asid: UInt16(asid), start: start, size: size, granule: granule, leafOnly: leafOnly)
    )
  }
  func invalidateASID(_ asid: Int) { mmu.invalidate(.asid(UInt16(asid))) }
}

/// Random binds, unbinds and madvises against a plain model of which object page
/// backs each GPU page, checked against the VA tree and the page table's
/// `translate` after every step, with every commit under the trapping allocator,
/// and the MMU model walking the tables, caching translations and checking every
/// invalidation (it must report nothing).
@Suite struct RandomBindTests {
  /// Which object byte backs a GPU page: (object, offset), or nil for a sparse page.
  typealias Backing = (object: BufferObjectID, offset: UInt64)?

  @Test(arguments: [1, 2, 3] as [UInt64])
  func randomSequencesMatchThePlainModel(seed: UInt64) throws {
    let rig = try Rig(pageSize: 4096)
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let mmu = try MMU(format: format, memory: PhysicalPageTableMemory(rig.ram))
    let device = try GPUDevice(
      pageSource: RuledPageSource(PhysicalPageSource(rig.ram), rig.rules), asids: 256,
      tlb: ModelTLB(mmu))
    let vm = try GPUVM(
      device: device, format: format,
      tableMemory: mmu.observing(
        RuledTableMemory(base: PhysicalPageTableMemory(rig.ram), rules: rig.rules)),
      signalling: rig.rules.section)
    try vm.bindToContext()
    let space = mmu.attach(vm.pageTable, asid: UInt16(try #require(vm.asid)))
    let page: UInt64 = 0x1000
    let base: UInt64 = 0x40_0000  // a 2 MiB-aligned window of 512 pages
    let pages: UInt64 = 512
    let objects = try [
      device.makeObject(size: 64 * page),
      device.makeObject(size: 32 * page, chunkSize: 16 * page),
      device.makeObject(size: 2 << 20, chunkSize: 2 << 20),
      device.makeObject(size: 2 * page),
    ]
    var model: [UInt64: Backing] = [:]  // page index -> backing (present: a VA covers it)
    var random = SplitMix64(seed: seed)
    func pick(_ n: UInt64) -> UInt64 { random.next() % n }

    for step in 0..<200 {
      let first = pick(pages - 1)
      let count = min(pick(48) + 1, pages - first)
      let address = base + first * page
      let range = count * page
      switch pick(10) {
      case 0..<5:
        let object = objects[Int(pick(3))]
        let objectPages = object.size / page
        let length = min(count, objectPages)
        let offset = pick(objectPages - length + 1) * page
        try vm.bind(object, offset: offset, at: address, range: length * page)
        for i in 0..<length { model[first + i] = (object.id, offset + i * page) }
      case 5:
        let scratch = objects[3]
        let length = count / 2 * 2
        guard length > 0 else { continue }
        try vm.bindRepeated(scratch, window: 2 * page, at: address, range: length * page)
        for i in 0..<length { model[first + i] = (scratch.id, i % 2 * page) }
      case 6:
        try vm.bindSparse(at: address, range: range)
        for i in 0..<count { model[first + i] = .some(nil) }
      case 7:
        try vm.madvise(at: address, range: range, protection: .readOnly)
      default:
        try vm.unbind(at: address, range: range)
        for i in 0..<count { model[first + i] = nil }
      }
      // The VA tree and the page table agree with the model, page by page.
      for i in 0..<pages {
        let va = vm.space.va(containing: base + i * page)
        let expected = model[i]
        #expect((va != nil) == (expected != nil), "step \(step): page \(i) covered")
        if let va, let expected {
          let backing = va.backing.object.map {
            ($0, va.backing.offset(after: base + i * page - va.address))
          }
          #expect(
            backing?.0 == expected?.object && backing?.1 == expected?.offset,
            "step \(step): page \(i)")
        }
      }
      let problems = translationsMatchTheVAs(
        vm, device: device, start: base, end: base + pages * page)
      #expect(problems.isEmpty, "step \(step): \(problems.prefix(3))")
      vm.space.tree.checkInvariants()
      // Pins equal the mapped bytes of each object.
      for object in objects {
        var mapped = 0
        for backing in model.values where backing?.object == object.id { mapped += Int(page) }
        #expect(object.totalPins == mapped, "step \(step): pins of object \(object.id.rawValue)")
      }
      if problems.count > 0 { break }
    }
    mmu.detach(space)
    let report = vm.tearDown()
    #expect(report.isClean, "\(report)")
    #expect(objects.allSatisfy { $0.totalPins == 0 && $0.mappingVMs.isEmpty })
  }

  /// A driver whose TLB drops range invalidations: the model must catch it, which
  /// shows the random test's silence means something.
  @Test func theModelCatchesAMissingInvalidation() throws {
    final class ForgetfulTLB: GPUTLB {
      func invalidate(asid: Int, start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
      func invalidateASID(_ asid: Int) {}
    }
    let rig = try Rig(pageSize: 4096)
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let mmu = try MMU(format: format, memory: PhysicalPageTableMemory(rig.ram))
    let device = try GPUDevice(pageSource: PhysicalPageSource(rig.ram), tlb: ForgetfulTLB())
    let vm = try GPUVM(
      device: device, format: format, tableMemory: mmu.observing(PhysicalPageTableMemory(rig.ram)))
    try vm.bindToContext()
    let space = mmu.attach(vm.pageTable, asid: UInt16(try #require(vm.asid)))
    let object = try device.makeObject(size: 0x4000)
    try vm.bind(object, at: 0x40_0000, range: 0x4000)
    _ = try mmu.access(0x40_1000, .read, in: space)
    try vm.bind(object, offset: 0x1000, at: 0x40_0000, range: 0x2000)  // rebinds 0x40_1000
    _ = try? mmu.access(0x40_1000, .read, in: space)
    mmu.checkQuiescent()
    #expect(!mmu.reports.isEmpty)
    mmu.detach(space)
    _ = vm.tearDown()
  }

  @Test func everyAllocationOfPrepareCanFailAndThenNothingChanged() throws {
    let rig = try Rig(pageSize: 4096)
    let vm = try rig.vm(ARM64Format(granule: .k4, inputBits: 48), cachedTables: 0)
    let object = try rig.device.makeObject(size: 64 * 0x1000, chunkSize: 0x4000)
    let other = try rig.device.makeObject(size: 4 * 0x1000)
    try vm.bind(other, at: 0x40_0000, range: 4 * 0x1000)
    // A bind that needs pages (16 chunks) and tables (a new 2 MiB and 1 GiB region).
    let request = MapRequest(
      address: 0x80_3000 - 0x2000, range: 64 * 0x1000, backing: .object(object.id, offset: 0))
    let start = rig.rules.calls.load(ordering: .relaxed)
    let probe = try vm.prepare(vm.space.planMap(request))
    let allocations = rig.rules.calls.load(ordering: .relaxed) - start
    vm.abort(probe)
    #expect(allocations > 16, "pages and tables are allocated in prepare")

    let vas = vm.space.vas
    let dump = vm.pageTable.dump()
    let pagesInUse = rig.ram.statistics().allocatedPages
    for failing in 0..<allocations {
      let first = rig.rules.calls.load(ordering: .relaxed)
      rig.rules.failing.store(first + failing, ordering: .relaxed)
      #expect(throws: GPUVMError.self, "allocation \(failing) fails") {
        try vm.bind(vm.space.planMap(request))
      }
      rig.rules.failing.store(-1, ordering: .relaxed)
      #expect(vm.space.vas == vas)
      #expect(vm.pageTable.dump() == dump)
      #expect(
        rig.ram.statistics().allocatedPages == pagesInUse, "allocation \(failing): nothing leaked")
      #expect(
        object.totalPins == 0 && object.residentChunkCount == 0 && vm.linkedObjects == [other.id])
    }
    try vm.bind(vm.space.planMap(request))
    #expect(
      translationsMatchTheVAs(vm, device: rig.device, start: 0x80_0000, end: 0x90_0000).isEmpty)
    #expect(vm.tearDown().isClean)
  }
}
