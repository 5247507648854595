import PageTables
import Testing

/// Hardware dirty state (FEAT_HAFDBS): writable leaves are mapped writable-clean,
/// the hardware's first store makes them writable-dirty, `readAndClearDirty` reports
/// and cleans them.
@Suite struct ARM64DirtyTests {
  static let dirtyBitModifier: UInt64 = 1 << 51
  static let readOnly: UInt64 = 1 << 7  // AP[2] at stage 1
  static let stage2Write: UInt64 = 1 << 7  // S2AP[1] at stage 2

  /// Does what the hardware does on the first store through a writable-clean leaf.
  func hardwareWrite(_ table: PageTable<ARM64Format, ImageTableMemory>, _ va: UInt64) throws {
    let slot = try #require(HardwareSimulation.leafSlot(table, va))
    let entry = try #require(table.memory.readWord(at: slot.table + UInt64(slot.index) * 8))
    try #require(entry & Self.dirtyBitModifier != 0, "only DBM leaves become dirty")
    HardwareSimulation.store(
      table, slot, table.format.stage == .one ? entry & ~Self.readOnly : entry | Self.stage2Write)
  }

  func dirtyRanges(_ table: PageTable<ARM64Format, ImageTableMemory>, _ va: UInt64, _ size: UInt64)
    throws -> [[UInt64]]
  {
    var found: [[UInt64]] = []
    try table.readAndClearDirty(virtualAddress: va, size: size) { found.append([$0, $1]) }
    return found
  }

  @Test func writableLeavesAreMappedWritableCleanAndStillReportWritable() throws {
    let format = try ARM64Format(granule: .k4, dirtyTracking: true)
    #expect(format.tracksDirtyState)
    let table = try makeTable(format)
    try table.map(
      virtualAddress: 0x40_0000, physicalAddress: 0x80_0000, size: 0x4000, protection: .readWrite)
    try table.map(
      virtualAddress: 0x50_0000, physicalAddress: 0x90_0000, size: 0x1000, protection: .readOnly)
    let writable = try #require(table.translate(0x40_0000))
    #expect(writable.entry & Self.dirtyBitModifier != 0 && writable.entry & Self.readOnly != 0)
    #expect(writable.protection == .readWrite)
    #expect(!format.isDirty(writable.entry, level: writable.level))
    let readable = try #require(table.translate(0x50_0000))
    #expect(readable.entry & Self.dirtyBitModifier == 0 && readable.entry & Self.readOnly != 0)
    #expect(readable.protection == .readOnly)
    #expect(try dirtyRanges(table, 0x40_0000, 0x20_0000).isEmpty, "nothing written yet")
    try unmapAndFlush(table, 0x40_0000, 0x4000)
    try unmapAndFlush(table, 0x50_0000, 0x1000)
  }

  @Test(arguments: [
    (ARM64Format.Stage.one, ARM64Format.Granule.k4, 48), (.two, .k16, 40), (.one, .k64, 52),
    (.two, .k4, 52),
  ])
  func hardwareWritesAreReportedOnceAndCleaned(
    _ stage: ARM64Format.Stage, _ granule: ARM64Format.Granule, _ bits: Int
  ) throws {
    let format = try ARM64Format(
      granule: granule, stage: stage, inputBits: bits, outputBits: bits, dirtyTracking: true)
    let table = try PageTable(
      format: format, memory: ImageTableMemory(base: 0x4000_0000, byteCount: 8 << 20),
      options: PageTableOptions(trapOnLeakedMappings: true, useContiguousRuns: false))
    let g = granule.bytes
    let va = g * 1024
    try table.map(
      virtualAddress: va, physicalAddress: g * 4096, size: 8 * g, protection: .readWrite)
    try hardwareWrite(table, va + 2 * g)
    try hardwareWrite(table, va + 5 * g)
    let written = try #require(table.translate(va + 2 * g))
    #expect(format.isDirty(written.entry, level: written.level))
    #expect(written.protection == .readWrite, "a dirty leaf is still read/write")
    // A range that stops before page 5 reports and cleans page 2 only.
    #expect(try dirtyRanges(table, va, 4 * g) == [[va + 2 * g, g]])
    #expect(try dirtyRanges(table, va, 8 * g) == [[va + 5 * g, g]])
    #expect(try dirtyRanges(table, va, 8 * g).isEmpty, "reported once")
    for k in 0..<UInt64(8) {
      let found = try #require(table.translate(va + k * g))
      #expect(!format.isDirty(found.entry, level: found.level))
      #expect(found.entry & Self.dirtyBitModifier != 0, "cleaned leaves stay writable-clean")
      #expect(found.protection == .readWrite)
      #expect(found.physicalAddress == g * 4096 + k * g)
    }
    try unmapAndFlush(table, va, 8 * g)
  }

  @Test func aDirtyMemberMakesTheWholeContiguousRunDirty() throws {
    let table = try makeTable(try ARM64Format(granule: .k4, dirtyTracking: true))
    let va: UInt64 = 0x10_0000
    try table.map(
      virtualAddress: va, physicalAddress: 0x20_0000, size: 0x1_0000, protection: .readWrite)
    try hardwareWrite(table, va + 7 * 4096)
    #expect(try dirtyRanges(table, va, 0x1000) == [[va, 0x1_0000]], "any overlap reports the run")
    #expect(try dirtyRanges(table, va, 0x1_0000).isEmpty)
    for k in 0..<UInt64(16) {
      let entry = try #require(table.translate(va + k * 4096)?.entry)
      #expect(entry & (1 << 52) != 0, "still a run member")
      #expect(entry & Self.readOnly != 0, "member \(k) is clean")
    }
    try unmapAndFlush(table, va, 0x1_0000)
  }

  @Test func aDirtyBlockIsReportedWhole() throws {
    let table = try makeTable(
      try ARM64Format(granule: .k4, stage: .two, inputBits: 40, outputBits: 40, dirtyTracking: true)
    )
    let va: UInt64 = 0x20_0000
    try table.map(
      virtualAddress: va, physicalAddress: 0x60_0000, size: 0x20_0000, protection: .readWrite)
    try hardwareWrite(table, va + 0x1234)
    #expect(try dirtyRanges(table, va + 0x10_0000, 0x1000) == [[va, 0x20_0000]])
    #expect(try dirtyRanges(table, va, 0x20_0000).isEmpty)
    try unmapAndFlush(table, va, 0x20_0000)
  }

  @Test func withoutDirtyTrackingDBMIsNotWritePermission() throws {
    let format = try ARM64Format(granule: .k4)
    #expect(!format.tracksDirtyState)
    let readOnly = try format.leafTemplate(for: .readOnly, level: 3) | 0x8000_0000
    #expect(readOnly & Self.dirtyBitModifier == 0, "DBM is only set when tracking")
    #expect(format.protection(of: readOnly | Self.dirtyBitModifier, level: 3).write == false)
    let table = try makeTable(format)
    #expect(throws: PageTableError.dirtyTrackingUnsupported) {
      try table.readAndClearDirty(virtualAddress: 0x1000, size: 0x1000) { _, _ in }
    }
  }
}
