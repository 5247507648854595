import PageTables
import Testing

/// What proves exclusive access: a `PageTable` becomes an `ExclusivePageTable`
/// only through its last reference.
@Suite struct ExclusivePageTableTests {
  let format = try! X86_64Format(levels: 4)

  @Test func refusesATableWithAnotherReference() throws {
    let table = try makeTable(format)
    let other = table
    do {
      _ = try ExclusivePageTable(consume table)
      Issue.record("a table with another reference must be refused")
    } catch {
      #expect(error == .tableIsShared)
    }
    // The other reference still works: nothing was changed or freed.
    try other.map(
      virtualAddress: 0x1000, physicalAddress: 0x2000, size: 0x1000, protection: .readWrite)
    #expect(other.translate(0x1234)?.physicalAddress == 0x2234)
    try unmapAndFlush(other, 0x1000, 0x1000)
  }

  @Test func refusesWhileAGatherHoldsItsTables() throws {
    let table = try makeTable(format)
    let memory = table.memory
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x40_0000, size: 0x1000, protection: .readWrite)
    var gather = TLBGather(invalidator: RecordingTLB())
    try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
    #expect(gather.freedTables.count == 3, "the unmap emptied three tables")
    do {
      _ = try ExclusivePageTable(consume table)  // the gather still references it
      Issue.record("a table a gather references must be refused")
    } catch {
      #expect(error == .tableIsShared)
    }
    // Dropping the gather invalidates, frees its tables and lets the table go.
    _ = consume gather
    #expect(memory.liveTables == 0, "nothing leaked by the refused conversion")
  }

  @Test func freesEmptiedTablesAtItsFlushAndConvertsBack() throws {
    let table = try makeTable(format)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x40_0000, size: 0x1000, protection: .readWrite)
    var gather = TLBGather(invalidator: RecordingTLB())
    try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
    table.flush(&gather)  // a flushed gather keeps no reference
    var exclusive = try ExclusivePageTable(consume table)
    #expect(exclusive.memory.liveTables == 1, "only the root is left")
    try exclusive.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x40_0000, size: 0x1000, protection: .readWrite)
    #expect(exclusive.translate(0x20_0010)?.physicalAddress == 0x40_0010)
    var second = TLBGather(invalidator: RecordingTLB())
    try exclusive.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &second)
    #expect(exclusive.memory.liveTables == 4, "emptied tables wait for the flush")
    exclusive.flush(&second)
    #expect(second.invalidator.ranges.count == 1, "one invalidation before the tables are freed")
    #expect(exclusive.memory.liveTables == 1, "freed at the flush, after the invalidation")
    let back = exclusive.shared()
    #expect(back.translate(0x20_0010) == nil)
    try back.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x40_0000, size: 0x1000, protection: .readWrite)
    #expect(back.translate(0x20_0010)?.physicalAddress == 0x40_0010)
    try unmapAndFlush(back, 0x20_0000, 0x1000)
  }
}
