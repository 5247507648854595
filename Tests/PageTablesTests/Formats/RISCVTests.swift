import PageTables
import Testing

extension FormatCases {
  /// RISC-V configurations for the table-driven suite.
  static var riscv: [FormatCase] {
    let protections = [
      Protection.readWrite, .readOnly, Protection(read: false, execute: true, user: true),
      Protection(write: true, execute: true, global: true),
      Protection(write: true, softwareBits: 0b10, accessed: false),
    ]
    let typed =
      protections + [
        Protection(write: true, memoryType: .device),
        Protection(user: true, memoryType: .uncached),
        Protection(write: true, memoryType: .uncached, softwareBits: 0b01, accessed: false),
      ]
    return [
      FormatCase("RISC-V Sv39 Svnapot", protections: protections) { RISCVFormat(.sv39) },
      FormatCase("RISC-V Sv48 Svnapot", protections: protections) { RISCVFormat(.sv48) },
      FormatCase("RISC-V Sv57 Svnapot", protections: protections) { RISCVFormat(.sv57) },
      FormatCase("RISC-V Sv39 no Svnapot", protections: protections) {
        RISCVFormat(.sv39, svnapot: false)
      },
      FormatCase("RISC-V Sv48 Svpbmt no Svnapot", protections: typed) {
        RISCVFormat(.sv48, svnapot: false, svpbmt: true)
      },
      FormatCase("RISC-V Sv57 Svnapot Svpbmt", protections: typed) {
        RISCVFormat(.sv57, svpbmt: true)
      },
    ]
  }
}

/// RISC-V encodings and behaviours, against bit values derived by hand from the
/// privileged spec (V0 R1 W2 X3 U4 G5 A6 D7, PPN[53:10] = PA[55:12], PBMT[62:61], N63).
@Suite struct RISCVTests {
  typealias Helpers = HardwareSimulation

  @Test func leafAndTableEntriesHaveThePrivilegedSpecBits() throws {
    let table = try makeTable(RISCVFormat(.sv39, svpbmt: true))
    // 4 KiB read-write: PPN 0x80203 << 10 | A | W | R | V.
    try table.map(
      virtualAddress: 0x1000, physicalAddress: 0x8020_3000, size: 0x1000, protection: .readWrite)
    #expect(table.translate(0x1000)?.entry == 0x2008_0C47)
    // 2 MiB user read-execute: PPN 0x80400 << 10 | A | U | X | R | V.
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8040_0000, size: 0x20_0000,
      protection: Protection(execute: true, user: true))
    #expect(table.translate(0x20_0000)?.entry == 0x2010_005B)
    // 1 GiB at the start of the upper half, global device memory:
    // PBMT = IO (bit 62) | PPN 0x40000 << 10 | A | G | W | R | V.
    try table.map(
      virtualAddress: 0xFFFF_FFC0_0000_0000, physicalAddress: 0x4000_0000, size: 0x4000_0000,
      protection: Protection(write: true, global: true, memoryType: .device))
    let huge = try #require(table.translate(0xFFFF_FFC0_0000_0123))
    #expect(huge.entry == 0x4000_0000_1000_0067)
    #expect(huge.physicalAddress == 0x4000_0123 && huge.level == 0)
    // Uncached is PBMT = NC (bit 61); execute-only is X alone.
    try table.map(
      virtualAddress: 0x40_0000, physicalAddress: 0x9000_0000, size: 0x1000,
      protection: Protection(memoryType: .uncached))
    #expect(table.translate(0x40_0000)?.entry == 0x2000_0000_2400_0043)
    try table.map(
      virtualAddress: 0x40_1000, physicalAddress: 0x9000_1000, size: 0x1000,
      protection: Protection(read: false, execute: true))
    #expect(table.translate(0x40_1000)?.entry == 0x2400_0449)
    // Table entries: V and the next table's PPN, nothing else.
    let rootEntry = try #require(table.memory.readWord(at: table.rootAddress()))
    #expect(rootEntry & 0x3FF == 0x001 && rootEntry >> 54 == 0)
    let next = (rootEntry >> 10) << 12
    #expect(next >= table.memory.base && next < table.memory.base + UInt64(table.memory.byteCount))
    try unmapAndFlush(table, 0, 0x60_0000)
    try unmapAndFlush(table, 0xFFFF_FFC0_0000_0000, 0x4000_0000)
  }

  @Test func everyLevelTakesALeafUpTo256TiBOnSv57() throws {
    let table = try makeTable(RISCVFormat(.sv57))
    try table.map(
      virtualAddress: 1 << 48, physicalAddress: 1 << 48, size: 1 << 48, protection: .readWrite)
    let leaf = try #require(table.translate((1 << 48) + 0x1234_5678_9ABC))
    #expect(leaf.level == 0 && leaf.pageSize == 1 << 48)
    // PPN (2^48 >> 12) << 10 = 2^46 | A | W | R | V.
    #expect(leaf.entry == 0x0000_4000_0000_0047)
    #expect(leaf.physicalAddress == (1 << 48) + 0x1234_5678_9ABC)
    try unmapAndFlush(table, 1 << 48, 1 << 48)
  }

  @Test func writeWithoutReadAndNoPermissionAreRefused() throws {
    let format = RISCVFormat(.sv48)
    let table = try makeTable(format)
    let refused = [
      Protection(read: false, write: true), Protection(read: false, write: true, execute: true),
      Protection(read: false), Protection(read: false, user: true),
      // Without Svpbmt only normal memory is expressible.
      Protection(memoryType: .uncached), Protection(write: true, memoryType: .device),
    ]
    for protection in refused {
      #expect(throws: PageTableError.unsupportedProtection(protection)) {
        try table.map(
          virtualAddress: 0x1000, physicalAddress: 0, size: 0x1000, protection: protection)
      }
    }
    #expect(table.dump().isEmpty)
    let typed = RISCVFormat(.sv48, svpbmt: true)
    #expect(throws: Never.self) {
      try typed.leafTemplate(for: Protection(memoryType: .uncached), level: 3)
    }
  }

  @Test func protectionDecodesWhatTheTemplateEncodes() throws {
    for format in [
      RISCVFormat(.sv39, svpbmt: true), RISCVFormat(.sv57, svnapot: false, svpbmt: true),
    ] {
      // Refused: write without read, and no permission at all (a table pointer).
      // A (bit 6) and D (bit 7) are the hardware's.
      try expectEveryProtectionRoundTrips(format, hardwareBits: 0x80) {
        $0.read || ($0.execute && !$0.write)
      }
    }
  }

  @Test func addressesMustBeSignExtended() throws {
    let sv39 = try makeTable(RISCVFormat(.sv39))
    for address: UInt64 in [0x40_0000_0000, 0xFFFF_FFBF_FFFF_F000] {
      #expect(throws: PageTableError.virtualAddressOutOfRange(address)) {
        try sv39.map(
          virtualAddress: address, physicalAddress: 0, size: 0x1000, protection: .readWrite)
      }
    }
    try sv39.map(
      virtualAddress: 0xFFFF_FFC0_0000_0000, physicalAddress: 0x8000_0000, size: 0x1000,
      protection: .readWrite)
    #expect(sv39.translate(0xFFFF_FFC0_0000_0042)?.physicalAddress == 0x8000_0042)
    #expect(sv39.translate(0x0000_0040_0000_0042) == nil)
    #expect(sv39.memory.readWord(at: sv39.rootAddress() + 256 * 8) != 0)
    try unmapAndFlush(sv39, 0xFFFF_FFC0_0000_0000, 0x1000)

    let sv48 = try makeTable(RISCVFormat(.sv48))
    try sv48.map(
      virtualAddress: 0x40_0000_0000, physicalAddress: 0, size: 0x1000, protection: .readWrite)
    #expect(throws: PageTableError.virtualAddressOutOfRange(0x8000_0000_0000)) {
      try sv48.map(
        virtualAddress: 0x8000_0000_0000, physicalAddress: 0, size: 0x1000, protection: .readWrite)
    }
    try unmapAndFlush(sv48, 0x40_0000_0000, 0x1000)

    let sv57 = try makeTable(RISCVFormat(.sv57))
    try sv57.map(
      virtualAddress: 0x8000_0000_0000, physicalAddress: 0, size: 0x1000, protection: .readWrite)
    try sv57.map(
      virtualAddress: 0xFF00_0000_0000_0000, physicalAddress: 0x1000, size: 0x1000,
      protection: .readWrite)
    #expect(sv57.translate(0xFF00_0000_0000_0008)?.physicalAddress == 0x1008)
    #expect(throws: PageTableError.virtualAddressOutOfRange(0x0100_0000_0000_0000)) {
      try sv57.map(
        virtualAddress: 0x0100_0000_0000_0000, physicalAddress: 0, size: 0x1000,
        protection: .readWrite)
    }
    try unmapAndFlush(sv57, 0x8000_0000_0000, 0x1000)
    try unmapAndFlush(sv57, 0xFF00_0000_0000_0000, 0x1000)
  }

  /// The leaf table entries for VA 0x1_0000 ..< 0x2_0000 (indices 16 ..< 32).
  func runEntries(_ table: PageTable<RISCVFormat, ImageTableMemory>) throws -> [UInt64] {
    let slot = try #require(Helpers.leafSlot(table, 0x1_0000))
    #expect(slot.index == 16 && slot.level == table.depth - 1)
    return (16..<32).map { Helpers.entry(table, table: slot.table, index: $0) }
  }

  @Test func svnapotRunIsSixteenIdenticalEntries() throws {
    let table = try makeTable(RISCVFormat(.sv39))
    try table.map(
      virtualAddress: 0x1_0000, physicalAddress: 0x8012_0000, size: 0x1_0000,
      protection: .readWrite)
    // N | PPN 0x80120 << 10 with PPN[3:0] = 0b1000 | A | W | R | V.
    #expect(try runEntries(table) == Array(repeating: 0x8000_0000_2004_A047, count: 16))
    let slot = try #require(Helpers.leafSlot(table, 0x1_0000))
    #expect(Helpers.entry(table, table: slot.table, index: 15) == 0)
    #expect(Helpers.entry(table, table: slot.table, index: 32) == 0)
    for page: UInt64 in 0..<16 {
      let found = try #require(table.translate(0x1_0000 + page * 0x1000 + 0x123))
      #expect(found.physicalAddress == 0x8012_0000 + page * 0x1000 + 0x123)
      #expect(found.pageSize == 0x1000 && found.protection == .readWrite)
    }
    #expect(table.format.isContiguous(0x8000_0000_2004_A047, level: 2))
    try unmapAndFlush(table, 0x1_0000, 0x1_0000)
    #expect(table.translate(0x1_0000) == nil)
  }

  @Test func unmappingOnePageBreaksTheRunAndTheRestStillTranslates() throws {
    let table = try makeTable(RISCVFormat(.sv39))
    try table.map(
      virtualAddress: 0x1_0000, physicalAddress: 0x8012_0000, size: 0x1_0000,
      protection: .readWrite)
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(try table.unmap(virtualAddress: 0x1_3000, size: 0x1000, gather: &gather) == 0x1000)
    table.flush(&gather)
    // The whole run was invalidated, not just the page.
    for page: UInt64 in 0..<16 {
      #expect(gather.invalidator.covers(0x1_0000 + page * 0x1000), "page \(page)")
    }
    let entries = try runEntries(table)
    for page in 0..<16 {
      let va = 0x1_0000 + UInt64(page) * 0x1000
      if page == 3 {
        #expect(entries[page] == 0)
        #expect(table.translate(va) == nil)
        continue
      }
      // A plain leaf with the member's own PPN and N clear.
      let pa = 0x8012_0000 + UInt64(page) * 0x1000
      #expect(entries[page] == (pa >> 2) | 0x47, "member \(page)")
      #expect(table.translate(va + 0x10)?.physicalAddress == pa + 0x10)
    }
    // The hole takes a new, unrelated page.
    try table.map(
      virtualAddress: 0x1_3000, physicalAddress: 0x9000_0000, size: 0x1000, protection: .readOnly)
    #expect(table.translate(0x1_3000)?.physicalAddress == 0x9000_0000)
    #expect(try unmapAndFlush(table, 0x1_0000, 0x1_0000) == 0x1_0000)
  }

  @Test func noRunWithoutSvnapotAlignmentOrTheOption() throws {
    let napot = RISCVFormat(.sv39)
    let misaligned = try makeTable(napot)
    try misaligned.map(
      virtualAddress: 0x1_0000, physicalAddress: 0x8012_1000, size: 0x1_0000,
      protection: .readWrite)
    let plain = try makeTable(RISCVFormat(.sv39, svnapot: false))
    #expect(plain.format.geometry.levels[2].contiguousRun == 1)
    try plain.map(
      virtualAddress: 0x1_0000, physicalAddress: 0x8012_0000, size: 0x1_0000,
      protection: .readWrite)
    let optedOut = try PageTable(
      format: napot, memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20),
      options: PageTableOptions(trapOnLeakedMappings: true, useContiguousRuns: false))
    try optedOut.map(
      virtualAddress: 0x1_0000, physicalAddress: 0x8012_0000, size: 0x1_0000,
      protection: .readWrite)
    for (table, base): (PageTable<RISCVFormat, ImageTableMemory>, UInt64) in [
      (misaligned, 0x8012_1000), (plain, 0x8012_0000), (optedOut, 0x8012_0000),
    ] {
      let entries = try runEntries(table)
      for (k, entry) in entries.enumerated() {
        #expect(entry == ((base + UInt64(k) * 0x1000) >> 2) | 0x47)
      }
      try unmapAndFlush(table, 0x1_0000, 0x1_0000)
    }
  }

  @Test func dirtyPagesAreReportedOnceThenCleaned() throws {
    let table = try makeTable(RISCVFormat(.sv48))
    try table.map(
      virtualAddress: 0x1_0000, physicalAddress: 0x8012_0000, size: 0x1_0000,
      protection: .readWrite)
    try table.map(
      virtualAddress: 0x4_0000, physicalAddress: 0x8020_0000, size: 0x1000, protection: .readWrite)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8040_0000, size: 0x20_0000,
      protection: .readWrite)
    #expect(try Helpers.dirtyRanges(table, 0, 0x40_0000).isEmpty)
    // The hart stores into member 9 of the run, the single page and the superpage.
    #expect(Helpers.setLeafBits(table, 0x1_9000, 0x80))
    #expect(Helpers.setLeafBits(table, 0x4_0000, 0x80))
    #expect(Helpers.setLeafBits(table, 0x30_0000, 0x80))
    #expect(
      try Helpers.dirtyRanges(table, 0, 0x40_0000) == [
        0x1_0000...0x1_FFFF, 0x4_0000...0x4_0FFF, 0x20_0000...0x3F_FFFF,
      ])
    #expect(try Helpers.dirtyRanges(table, 0, 0x40_0000).isEmpty)
    // Cleaned: D clear, the run intact, still writable.
    #expect(try runEntries(table) == Array(repeating: 0x8000_0000_2004_A047, count: 16))
    #expect(table.translate(0x4_0000)?.entry == 0x2008_0047)
    #expect(table.translate(0x30_0000)?.protection == .readWrite)
    try unmapAndFlush(table, 0, 0x40_0000)
  }

  @Test func setsDirtyAtMapMarksWritableLeavesAndTurnsTrackingOff() throws {
    let format = RISCVFormat(.sv39, setsDirtyAtMap: true)
    #expect(!format.tracksDirtyState)
    let table = try makeTable(format)
    try table.map(
      virtualAddress: 0x1000, physicalAddress: 0x8020_3000, size: 0x1000, protection: .readWrite)
    try table.map(
      virtualAddress: 0x2000, physicalAddress: 0x8020_4000, size: 0x1000, protection: .readOnly)
    #expect(table.translate(0x1000)?.entry == 0x2008_0CC7)  // D | A | W | R | V
    #expect(table.translate(0x2000)?.entry == 0x2008_1043)  // A | R | V
    #expect(table.translate(0x1000)?.protection == .readWrite)
    #expect(throws: PageTableError.dirtyTrackingUnsupported) {
      try table.readAndClearDirty(virtualAddress: 0, size: 0x4000) { _, _ in }
    }
    try unmapAndFlush(table, 0x1000, 0x2000)
  }

  @Test func satpHoldsModeASIDAndRootPPN() throws {
    #expect(try RISCVFormat(.sv39).satp(rootAddress: 0x8020_0000) == 0x8000_0000_0008_0200)
    #expect(try RISCVFormat(.sv48).satp(rootAddress: 0x8020_0000, asid: 7) == 0x9000_7000_0008_0200)
    #expect(
      try RISCVFormat(.sv57).satp(rootAddress: 0xFF_FFFF_FFFF_F000, asid: 0xFFFF)
        == 0xAFFF_FFFF_FFFF_FFFF)
    #expect(throws: PageTableError.misalignedPhysicalAddress(0x8020_0800)) {
      try RISCVFormat(.sv39).satp(rootAddress: 0x8020_0800)
    }
    #expect(throws: PageTableError.physicalAddressOutOfRange(1 << 56)) {
      try RISCVFormat(.sv39).satp(rootAddress: 1 << 56)
    }
  }
}
