import GPUVirtualMemory
import PhysicalPages
import Testing

/// A VA space, a context table or a device asked for with a shape it cannot have is
/// refused with a typed error, never a trap.
@Suite struct ConfigurationErrorTests {
  @Test(arguments: [0, 3, 0x3000, 0x4001, UInt64.max])
  func aPageSizeThatIsNoPowerOfTwoIsRefused(pageSize: UInt64) {
    #expect(throws: GPUVMError.invalidPageSize(pageSize)) {
      try GPUVASpace(start: 0, range: 1 << 30, pageSize: pageSize)
    }
  }

  @Test(arguments: [(0, 64), (1, 64), (64, 1), (-1, -1)])
  func tooFewContextsAreRefused(slots: Int, asids: Int) throws {
    #expect(throws: GPUVMError.tooFewContexts(slots: slots, asids: asids)) {
      try ContextTable(slotCount: slots, asidCount: asids, tlb: RecordingGPUTLB())
    }
    let ram = try PhysicalMemory()
    #expect(throws: GPUVMError.tooFewContexts(slots: slots, asids: asids)) {
      try GPUDevice(pageSource: PhysicalPageSource(ram), contextSlots: slots, asids: asids)
    }
  }

  @Test func theSmallestShapesAreAccepted() throws {
    var contexts = try ContextTable(slotCount: 2, asidCount: 2, tlb: RecordingGPUTLB())
    let slot = try contexts.bind(vmID: 1, register: { asid in 0x8000_0000 | UInt64(asid) << 48 })
    #expect(slot == 1)
    #expect(throws: GPUVMError.noFreeContextSlot) {
      try contexts.bind(vmID: 2, register: { _ in 1 })
    }
    #expect(GPUVMError.invalidPageSize(0x3000).description.contains("0x3000"))
  }
}
