import GPUVirtualMemory
import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// The DocC catalog's examples, line for line.
@Suite struct GPUVirtualMemoryDocumentationTests {
  /// The example in `Sources/GPUVirtualMemory/GPUVirtualMemory.docc/GPUVirtualMemory.md`.
  @Test func catalogExample() throws {
    var space = try GPUVASpace(start: 0x4000, range: 1 << 39, pageSize: 0x4000)
    let object = BufferObjectID(1)
    try space.apply(
      space.planMap(
        MapRequest(address: 0x10_0000, range: 0xc000, backing: .object(object, offset: 0))))
    let plan = try space.planUnmap(address: 0x10_4000, range: 0x4000)
    #expect(
      plan.steps.map(\.description) == [
        "remap [0x100000, +0xc000) bo1@0x0 -> prev [0x100000, +0x4000) bo1@0x0,"
          + " next [0x108000, +0x4000) bo1@0x8000"
      ])
    try space.apply(plan)
    #expect(space.vas.count == 2)
  }

  /// The binding example in the same catalog.
  @Test func catalogBindingExample() throws {
    let ram = try PhysicalMemory(configuration: .init(pageSize: 16384))
    let device = try GPUDevice(pageSource: PhysicalPageSource(ram))
    let vm = try GPUVM(
      device: device, format: AppleUATFormat(), tableMemory: PhysicalPageTableMemory(ram))
    try vm.bindToContext()
    let object = try device.makeObject(size: 0x10000)
    let prepared = try vm.prepare(
      vm.space.planMap(
        MapRequest(address: 0x10_0000, range: 0x10000, backing: .object(object.id, offset: 0))))
    let report = vm.complete(vm.commit(prepared))
    #expect(report.mappedBytes == 0x10000)
    #expect(vm.tearDown().isClean)
  }
}
