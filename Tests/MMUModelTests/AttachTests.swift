import MMUModel
import PageTables
import Testing

/// Attaching an address space by its root addresses checks them against the format.
@Suite struct AttachTests {
  @Test func aWrongRootCountThrowsAndAttachesNothing() throws {
    let format = try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32)  // 4 roots
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let mmu = try MMU(format: format, memory: image)
    #expect(throws: MMUUsageError.wrongRootCount(given: 1, expected: 4)) {
      try mmu.attach(roots: [0x4000_0000])
    }
    #expect(throws: MMUUsageError.wrongRootCount(given: 5, expected: 4)) {
      try mmu.attach(roots: [0x4000_0000, 0x4000_1000, 0x4000_2000, 0x4000_3000, 0x4000_4000])
    }
    #expect(
      MMUUsageError.wrongRootCount(given: 1, expected: 4).description
        == "1 root table(s) given, but the format has 4")
    // The right count attaches, as the model's first space (index 0): the refused
    // calls attached nothing.
    let table = try PageTable(format: format, memory: mmu.observing(image))
    let space = mmu.attach(table)
    #expect(space.index == 0)
    mmu.detach(space)
  }
}
