import GPUVirtualMemory
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
}
