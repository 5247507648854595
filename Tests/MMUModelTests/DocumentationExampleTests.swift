import MMUModel
import PageTables
import Testing

/// A TLB invalidator that does nothing (the bug in the catalog's example).
struct NoInvalidation: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}

/// The examples of `Sources/MMUModel/MMUModel.docc/MMUModel.md` and of ``MMU``'s doc
/// comment, line for line, with their comments turned into expectations.
@Suite struct DocumentationExampleTests {
  @Test func theCatalogExampleRunsAsWritten() throws {
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let mmu = try MMU(format: format, memory: image)
    let table = try PageTable(format: format, memory: mmu.observing(image))
    let space = mmu.attach(table, asid: 1)

    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
      size: 0x1000, protection: .readWrite)
    #expect(try mmu.access(0x20_0010, .write, in: space).physicalAddress == 0x8020_0010)

    // The bug: unmap, but the invalidation never reaches the TLB.
    var gather = TLBGather(invalidator: NoInvalidation())
    try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
    table.flush(&gather)
    let stale = try? mmu.access(0x20_0010, in: space)  // served from the stale TLB entry
    #expect(stale?.servedByTLB == true)
    let rules = mmu.reports.map(\.rule)
    #expect(rules.first == .tableFreedWhileReachable)
    #expect(rules.last == .staleTranslation)
    mmu.detach(space)
  }

  @Test func theMMUDocCommentExampleRunsAsWritten() throws {
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let mmu = try MMU(format: ARM64Format(granule: .k4, inputBits: 48), memory: image)
    let table = try PageTable(format: mmu.format, memory: mmu.observing(image))
    let space = mmu.attach(table, asid: 1)

    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
      size: 0x1000, protection: .readWrite)
    #expect(try mmu.access(0x20_0010, .write, in: space).physicalAddress == 0x8020_0010)

    var gather = TLBGather(invalidator: mmu.invalidator(for: space))
    try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
    table.flush(&gather)  // the gather's commands reach the model's TLB
    mmu.pageFreed(physicalAddress: 0x8020_0000, byteCount: 0x1000)
    mmu.checkQuiescent()
    #expect(mmu.reports.isEmpty)
    mmu.detach(space)  // before the table goes away
  }
}
