import GPUVirtualMemory
import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

@Suite struct ContextAndLifecycleTests {
  let k16: UInt64 = 0x4000

  @Test func sixtyFourSlotsWithTheKernelInSlotZero() throws {
    let rig = try Rig(pageSize: 16384)
    let kernel = try GPUVM(
      device: rig.device, format: AppleUATFormat(addressSpace: .kernel),
      tableMemory: PhysicalPageTableMemory(rig.ram))
    kernel.bindAsKernelContext()
    #expect(kernel.contextSlot == 0 && kernel.asid == 0)
    #expect(rig.device.contexts.registers[0] == kernel.pageTable.rootAddress() | 1)

    var vms: [GPUVM<AppleUATFormat, RuledTableMemory>] = []
    for _ in 1..<64 {
      let vm = try rig.vm(AppleUATFormat())
      let before = rig.tlb.commands.count
      let slot = try vm.bindToContext()
      let asid = try #require(vm.asid)
      // The ASID is invalidated before the slot's register is written.
      #expect(rig.tlb.commands[before...] == [.asid(asid)])
      #expect(
        rig.device.contexts.registers[slot]
          == vm.pageTable.rootAddress() | 1 | UInt64(asid) << 48)
      #expect(
        rig.device.contexts.registers[slot]
          == (try AppleUATFormat.contextTableEntry(
            rootAddress: vm.pageTable.rootAddress(), asid: asid)))
      vms.append(vm)
    }
    #expect(Set(vms.map(\.contextSlot)).count == 63 && !vms.contains { $0.contextSlot == 0 })
    let extra = try rig.vm(AppleUATFormat())
    #expect(throws: GPUVMError.noFreeContextSlot) { try extra.bindToContext() }

    // A bind in a bound VM invalidates its ASID's range once per request.
    let object = try rig.device.makeObject(size: 4 * k16)
    let vm = vms[5]
    try vm.bind(object, at: 0x10_0000, range: 4 * k16)
    let unbind = try vm.unbind(at: 0x10_0000, range: 4 * k16)
    let asid = try #require(vm.asid)
    // One command covering the range (the engine widens it to the unlinked tables'
    // coverage, and asks for walk caches too).
    guard case .range(asid, let start, let size, k16, false)? = unbind.invalidation else {
      Issue.record(
        "one range invalidation for the ASID: \(String(describing: unbind.invalidation))")
      return
    }
    #expect(start <= 0x10_0000 && start + size >= 0x10_0000 + 4 * k16)
    #expect(rig.tlb.commands.last == unbind.invalidation)

    // Leaving a slot invalidates the ASID and frees the slot for another VM.
    let slot = try #require(vm.contextSlot)
    vm.leaveContext()
    #expect(rig.tlb.commands.last == .asid(asid))
    #expect(rig.device.contexts.registers[slot] == 0 && vm.contextSlot == nil)
    #expect(try extra.bindToContext() == slot)
    // A VM out of every slot needs no invalidation for its binds.
    #expect(try vm.bind(object, at: 0x10_0000, range: k16).invalidation == nil)
    #expect(vm.tearDown().isClean)
  }

  @Test func otherFormatsGetTheirOwnRegisterValue() throws {
    let rig = try Rig(pageSize: 4096)
    let vm = try rig.vm(ARM64Format(granule: .k4, inputBits: 48))
    try vm.bindToContext()
    let asid = try #require(vm.asid)
    #expect(
      rig.device.contexts.registers[vm.contextSlot!]
        == vm.pageTable.rootAddress() | UInt64(asid) << 48)
  }

  @Test func teardownReleasesEverythingAndNothingLeaks() throws {
    let rig = try Rig(pageSize: 16384)
    do {
      let vm = try rig.vm(AppleUATFormat())
      try vm.bindToContext()
      let objects = try (0..<4).map { _ in try rig.device.makeObject(size: 8 * k16) }
      for (i, object) in objects.enumerated() {
        try vm.bind(object, at: 0x100_0000 * UInt64(i + 1), range: 8 * k16)
      }
      try vm.bindRepeated(objects[0], window: k16, at: 0x800_0000, range: 256 * k16)
      try vm.bindSparse(at: 0x900_0000, range: 16 * k16)
      try vm.unbind(at: 0x100_0000 + k16, range: k16)
      let report = vm.tearDown()
      #expect(report.isClean, "\(report)")
      #expect(report.vasRemoved == 7 && vm.space.vas.isEmpty && vm.contextSlot == nil)
      #expect(
        vm.tableMemory.tablesInUse == vm.pageTable.rootCount && vm.tableMemory.reservedTables == 0)
      #expect(objects.allSatisfy { $0.totalPins == 0 && $0.mappingVMs.isEmpty })
      for object in objects { try rig.device.destroyObject(object) }
    }
    #expect(rig.device.allObjects.isEmpty)
    #expect(rig.ram.leakReport().isEmpty, "\(rig.ram.leakReport())")
  }

  @Test func anEvictedObjectIsUnmappedEverywhereAndComesBackWithItsContents() throws {
    let rig = try Rig(pageSize: 16384)
    let first = try rig.vm(AppleUATFormat())
    let second = try rig.vm(AppleUATFormat())
    let object = try rig.device.makeObject(size: 4 * k16)
    try first.bind(object, at: 0x10_0000, range: 4 * k16)
    try second.bind(object, offset: k16, at: 0x20_0000, range: 2 * k16)
    let source = PhysicalPageSource(rig.ram)
    source.write([1, 2, 3, 4], at: object.physicalAddress(at: k16)!)

    rig.device.evict(object)
    #expect(object.isEvicted && object.residentChunkCount == 0 && object.totalPins == 0)
    #expect(
      first.pageTable.translate(0x10_0000) == nil && second.pageTable.translate(0x20_0000) == nil)
    #expect(first.space.vas.allSatisfy(\.isEvicted) && second.space.vas.allSatisfy(\.isEvicted))
    #expect(throws: GPUVMError.objectEvicted(object.id)) {
      try first.bind(object, at: 0x30_0000, range: k16)
    }

    try rig.device.revalidate(object)
    #expect(!object.isEvicted && object.totalPins == 6 * Int(k16))
    #expect(
      translationsMatchTheVAs(first, device: rig.device, start: 0x10_0000, end: 0x11_0000).isEmpty)
    #expect(
      translationsMatchTheVAs(second, device: rig.device, start: 0x20_0000, end: 0x21_0000).isEmpty)
    let physical = try #require(second.pageTable.translate(0x20_0000)?.physicalAddress)
    #expect(source.read(at: physical, count: 4) == [1, 2, 3, 4])
    #expect(first.tearDown().isClean && second.tearDown().isClean)
  }
}
