import MMUModel
import PageTables
import Testing

/// `MMU.entryWritten(table:index:)`: a write the model is told of is judged at once,
/// alone, by the same rules as the writes it finds by comparing memory.
@Suite struct EntryWriteTests {
  let format: ARM64Format
  let rig: Rig<ARM64Format>
  let va: UInt64 = 0x20_0000

  init() throws {
    format = try ARM64Format(granule: .k4, inputBits: 48)
    rig = try Rig(format)
    // Two pages: the second keeps the leaf table alive while the first changes.
    try rig.table.map(
      virtualAddress: va, physicalAddress: dataBase, size: 0x2000, protection: .readWrite)
    _ = try rig.mmu.access(va, .write, in: rig.space)
  }

  func leaf(at physicalAddress: UInt64) throws -> UInt64 {
    format.leafEntry(
      template: try format.leafTemplate(for: .readWrite, level: 3),
      physicalAddress: physicalAddress, level: 3)
  }

  /// Writes `entry` into `slot` and tells the model.
  func write(_ slot: LeafSlot, _ entry: UInt64) throws {
    store(rig, slot, entry)
    try rig.mmu.entryWritten(table: slot.table, index: slot.index)
  }

  func tearDown() throws {
    rig.mmu.invalidate(.all)
    _ = rig.mmu.takeReports()
    try rig.tearDown([(va, 0x2000)])
  }

  @Test func aLiveLeafMovedInPlaceIsReportedWhenTold() throws {
    let slot = try leafSlot(rig, virtualAddress: va)
    let events = rig.mmu.eventCount
    try write(slot, try leaf(at: dataBase + 0x10_0000))
    // Judged by that call alone: no other operation of the model ran.
    #expect(rig.mmu.eventCount == events + 1)
    let report = try #require(rig.mmu.reports.first)
    #expect(rig.mmu.reports.map(\.rule) == [.breakBeforeMake])
    #expect(report.operation == .entryWrite)
    #expect(report.virtualAddress == va)
    #expect(report.table == slot.table && report.index == slot.index)
    #expect(report.detail.contains("output address changed"))
    try tearDown()
  }

  @Test func breakThenMakeWithoutAnInvalidationBetweenIsReported() throws {
    let slot = try leafSlot(rig, virtualAddress: va)
    try write(slot, 0)
    #expect(rig.mmu.reports.isEmpty)
    try write(slot, try leaf(at: dataBase + 0x10_0000))
    let report = try #require(rig.mmu.reports.first)
    #expect(report.rule == .breakBeforeMake)
    #expect(report.detail.contains("made invalid"))
    try tearDown()
  }

  @Test func breakInvalidateMakeIsClean() throws {
    let slot = try leafSlot(rig, virtualAddress: va)
    try write(slot, 0)
    rig.mmu.invalidate(
      .asidRange(asid: 1, start: va, size: 0x1000, granule: 0x1000, leafOnly: true))
    try write(slot, try leaf(at: dataBase + 0x10_0000))
    #expect(try rig.mmu.access(va + 8, in: rig.space).physicalAddress == dataBase + 0x10_0008)
    rig.mmu.checkQuiescent()
    #expect(rig.mmu.reports.isEmpty, "\(rig.mmu.reports)")
    try tearDown()
  }

  @Test func aToldRemovalStaysPendingUntilInvalidated() throws {
    let slot = try leafSlot(rig, virtualAddress: va)
    try write(slot, 0)
    // The TLB still holds the page: the hit is served, and reported as stale.
    #expect(try rig.mmu.access(va, .write, in: rig.space).servedByTLB)
    let report = try #require(rig.mmu.reports.first)
    #expect(report.rule == .staleTranslation)
    #expect(report.changedAt != nil)
    // Restore the leaf (a clean undo) so the table can be torn down.
    try write(slot, try leaf(at: dataBase))
    try tearDown()
  }

  @Test func anIndexOutsideAKnownTableThrowsAndChangesNothing() throws {
    let slot = try leafSlot(rig, virtualAddress: va)
    #expect(throws: MMUUsageError.entryIndexOutOfRange(table: slot.table, index: 512, entries: 512))
    {
      try rig.mmu.entryWritten(table: slot.table, index: 512)
    }
    #expect(throws: MMUUsageError.self) { try rig.mmu.entryWritten(table: slot.table, index: -1) }
    // A table the model does not know (not linked) is not judged: no throw, no report.
    try rig.mmu.entryWritten(table: 0x4100_0000, index: 7)
    #expect(rig.mmu.reports.isEmpty)
    #expect(try rig.mmu.access(va, in: rig.space).physicalAddress == dataBase)
    try tearDown()
  }
}
