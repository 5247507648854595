import PageTables
import Testing

extension FormatCases {
  /// x86-64 configurations for the table-driven suite.
  static var x86_64: [FormatCase] {
    let protections = [
      Protection.readWrite, .readOnly, Protection(execute: true, user: true),
      Protection(write: true, global: true, memoryType: .device),
      Protection(write: true, user: true, memoryType: .uncached),
      // OS bits in both ignored fields, PAT index 5, A left to the CPU.
      Protection(write: true, softwareBits: 0x2A5, attributeIndex: 5, accessed: false),
    ]
    let executable = [
      Protection(write: true, execute: true), Protection(execute: true, user: true, global: true),
    ]
    return [
      FormatCase("x86-64 4-level", protections: protections) { try X86_64Format(levels: 4) },
      FormatCase("x86-64 5-level", protections: protections) { try X86_64Format(levels: 5) },
      FormatCase("x86-64 4-level MAXPHYADDR 46", protections: protections) {
        try X86_64Format(levels: 4, maxPhysicalAddressBits: 46)
      },
      FormatCase("x86-64 5-level MAXPHYADDR 46 WC at PAT 4", protections: protections) {
        try X86_64Format(levels: 5, maxPhysicalAddressBits: 46, pat: .writeCombiningAtIndex4)
      },
      FormatCase("x86-64 4-level no 1 GiB pages Linux PAT", protections: protections) {
        try X86_64Format(levels: 4, gigabytePages: false, pat: .linux)
      },
      FormatCase("x86-64 4-level without NX", protections: executable) {
        try X86_64Format(levels: 4, noExecute: false)
      },
    ]
  }
}

/// x86-64 encodings and behaviours, against bit values derived by hand from the
/// Intel SDM vol. 3A chapter 4 (P0 RW1 US2 PWT3 PCD4 A5 D6 PS/PAT7 G8 PAT12 XD63).
@Suite struct X86_64Tests {
  typealias Helpers = HardwareSimulation

  @Test func leafAndTableEntriesHaveTheSDMBits() throws {
    let format = try X86_64Format(levels: 4)
    let table = try makeTable(format)
    // 4 KiB, read-write, supervisor, no execute: XD | address | A | RW | P.
    try table.map(
      virtualAddress: 0x1000, physicalAddress: 0x12_3456_7000, size: 0x1000,
      protection: .readWrite)
    #expect(table.translate(0x1000)?.entry == 0x8000_0012_3456_7023)
    // 2 MiB, read-execute, user: address | PS | A | U/S | P.
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x4000_0000, size: 0x20_0000,
      protection: Protection(execute: true, user: true))
    #expect(table.translate(0x20_0000)?.entry == 0x0000_0000_4000_00A5)
    // 1 GiB in the upper half, global device memory (PAT entry 3: PCD | PWT):
    // XD | address | G | PS | A | PCD | PWT | RW | P.
    try table.map(
      virtualAddress: 0xFFFF_8000_4000_0000, physicalAddress: 0x1_0000_0000, size: 0x4000_0000,
      protection: Protection(write: true, global: true, memoryType: .device))
    let huge = try #require(table.translate(0xFFFF_8000_4000_0000))
    #expect(huge.entry == 0x8000_0001_0000_01BB)
    #expect(huge.pageSize == 0x4000_0000 && huge.level == 1)
    // Table entries: P | RW | U/S | A and the next table's address, no XD.
    let root = table.rootAddress()
    for index in [0, 256] {
      let entry = try #require(table.memory.readWord(at: root + UInt64(index) * 8))
      #expect(entry & 0xFFF == 0x027, "PML4E \(index)")
      #expect(entry >> 52 == 0)
    }
    #expect(table.memory.readWord(at: root + 8) == 0)
    try unmapAndFlush(table, 0x1000, 0x1000)
    try unmapAndFlush(table, 0x20_0000, 0x20_0000)
    try unmapAndFlush(table, 0xFFFF_8000_4000_0000, 0x4000_0000)
  }

  @Test func patBitIsBit7In4KiBPagesAndBit12InLargePages() throws {
    let format = try X86_64Format(pat: .writeCombiningAtIndex4)
    let wc = Protection(write: true, memoryType: .uncached)
    let table = try makeTable(format)
    try table.map(virtualAddress: 0x1000, physicalAddress: 0x5000, size: 0x1000, protection: wc)
    // PAT (bit 7) | A | RW | P, XD.
    #expect(table.translate(0x1000)?.entry == 0x8000_0000_0000_50A3)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x40_0000, size: 0x20_0000, protection: wc)
    // PAT (bit 12) | PS | A | RW | P, XD.
    #expect(table.translate(0x20_0000)?.entry == 0x8000_0000_0040_10A3)
    // Bit 12 is the PAT bit, not an address bit, in a 2 MiB page.
    #expect(table.translate(0x20_1234)?.physicalAddress == 0x40_1234)
    #expect(table.translate(0x20_1234)?.protection == wc)
    // Splitting the 2 MiB page moves the PAT bit back to bit 7.
    try unmapAndFlush(table, 0x30_0000, 0x1000)
    #expect(table.translate(0x20_2000)?.entry == 0x8000_0000_0040_20A3)
    #expect(table.translate(0x20_2000)?.protection == wc)
    try unmapAndFlush(table, 0, 0x40_0000)
  }

  @Test func patLayoutsSelectTheirEntriesAndMSRValues() throws {
    #expect(X86_64Format.PATLayout.powerOnDefault.msrValue == 0x0007_0406_0007_0406)
    #expect(X86_64Format.PATLayout.linux.msrValue == 0x0407_0506_0007_0106)
    #expect(X86_64Format.PATLayout.writeCombiningAtIndex4.msrValue == 0x0007_0401_0007_0406)
    let uncached = Protection(memoryType: .uncached)
    // 4 KiB leaf bits [7, 4, 3] = PAT, PCD, PWT of the uncached entry.
    let expected: [(X86_64Format.PATLayout, UInt64)] = [
      (.powerOnDefault, 0x10), (.linux, 0x08), (.writeCombiningAtIndex4, 0x80),
    ]
    for (layout, bits) in expected {
      let format = try X86_64Format(pat: layout)
      let template = try format.leafTemplate(for: uncached, level: 3)
      #expect(template & 0x98 == bits, "\(layout)")
      for type in MemoryType.allCases {
        let index = layout.index(for: type)
        #expect(layout.memoryType(atIndex: index) == type, "\(layout) \(type)")
      }
    }
    // Entries no layout writes still decode by their MSR type: entry 7 of the
    // power-on value is UC, entry 5 is WT.
    #expect(X86_64Format.PATLayout.powerOnDefault.memoryType(atIndex: 7) == .device)
    #expect(X86_64Format.PATLayout.powerOnDefault.memoryType(atIndex: 5) == .normal)
  }

  @Test func nonCanonicalAddressesAreRefusedAndUpperHalfMaps() throws {
    let four = try makeTable(X86_64Format(levels: 4))
    for address: UInt64 in [0x0000_8000_0000_0000, 0xFFFF_7FFF_FFFF_F000] {
      #expect(throws: PageTableError.virtualAddressOutOfRange(address)) {
        try four.map(
          virtualAddress: address, physicalAddress: 0, size: 0x1000, protection: .readWrite)
      }
      #expect(four.translate(address) == nil)
    }
    // A range that runs off the top of the lower half.
    #expect(throws: PageTableError.virtualAddressOutOfRange(0x7FFF_FFFF_F000)) {
      try four.map(
        virtualAddress: 0x7FFF_FFFF_F000, physicalAddress: 0, size: 0x2000, protection: .readWrite)
    }
    try four.map(
      virtualAddress: 0xFFFF_8000_0000_0000, physicalAddress: 0x3000, size: 0x1000,
      protection: .readWrite)
    #expect(four.translate(0xFFFF_8000_0000_0ABC)?.physicalAddress == 0x3ABC)
    // Same index bits, but not canonical: no translation.
    #expect(four.translate(0x0000_8000_0000_0ABC) == nil)
    #expect(four.dump().map(\.virtualAddress) == [0xFFFF_8000_0000_0000])
    // The upper half starts at PML4 entry 256.
    #expect(four.memory.readWord(at: four.rootAddress() + 256 * 8) != 0)
    #expect(four.memory.readWord(at: four.rootAddress()) == 0)
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(
      try four.unmap(virtualAddress: 0xFFFF_8000_0000_0000, size: 0x1000, gather: &gather) == 0x1000
    )
    four.flush(&gather)
    #expect(gather.invalidator.covers(0xFFFF_8000_0000_0000))

    let five = try makeTable(X86_64Format(levels: 5))
    try five.map(
      virtualAddress: 0x0000_8000_0000_0000, physicalAddress: 0x4000, size: 0x1000,
      protection: .readWrite)
    #expect(five.translate(0x0000_8000_0000_0010)?.physicalAddress == 0x4010)
    try five.map(
      virtualAddress: 0xFF00_0000_0000_0000, physicalAddress: 0x5000, size: 0x1000,
      protection: .readWrite)
    #expect(five.translate(0xFF00_0000_0000_0010)?.physicalAddress == 0x5010)
    #expect(five.memory.readWord(at: five.rootAddress() + 256 * 8) != 0)
    #expect(throws: PageTableError.virtualAddressOutOfRange(0x0100_0000_0000_0000)) {
      try five.map(
        virtualAddress: 0x0100_0000_0000_0000, physicalAddress: 0, size: 0x1000,
        protection: .readWrite)
    }
    try unmapAndFlush(five, 0x0000_8000_0000_0000, 0x1000)
    try unmapAndFlush(five, 0xFF00_0000_0000_0000, 0x1000)
  }

  @Test func protectionsWithoutReadAreRefused() throws {
    let format = try X86_64Format()
    let table = try makeTable(format)
    let refused = [
      Protection(read: false, write: true), Protection(read: false),
      Protection(read: false, execute: true), Protection(read: false, write: true, execute: true),
    ]
    for protection in refused {
      #expect(throws: PageTableError.unsupportedProtection(protection)) {
        try table.map(
          virtualAddress: 0x1000, physicalAddress: 0, size: 0x1000, protection: protection)
      }
    }
    #expect(table.dump().isEmpty)
  }

  @Test func withoutNXNonExecutableMappingsAreRefused() throws {
    let format = try X86_64Format(noExecute: false)
    #expect(throws: PageTableError.unsupportedProtection(.readWrite)) {
      try format.leafTemplate(for: .readWrite, level: 3)
    }
    let rwx = Protection(write: true, execute: true)
    for level in 1...3 {
      let entry = format.leafEntry(
        template: try format.leafTemplate(for: rwx, level: level), physicalAddress: 0, level: level)
      #expect(entry >> 63 == 0, "XD is reserved without NXE")
      #expect(format.protection(of: entry | (1 << 63), level: level).execute)
    }
  }

  @Test func protectionDecodesWhatTheTemplateEncodes() throws {
    for format in [
      try X86_64Format(levels: 4), try X86_64Format(levels: 5, pat: .linux),
      try X86_64Format(pat: .writeCombiningAtIndex4),
    ] {
      // A present page is always readable, so `read: false` is refused.
      // A (bit 5) and D (bit 6) are the hardware's.
      try expectEveryProtectionRoundTrips(format, hardwareBits: 0x40) { $0.read }
    }
  }

  @Test func maxPhysicalAddressLimitsOutputAddresses() throws {
    let format = try X86_64Format(maxPhysicalAddressBits: 46)
    #expect(format.geometry.outputBits == 46)
    let table = try makeTable(format)
    try table.map(
      virtualAddress: 0x1000, physicalAddress: 0x3FFF_FFFF_F000, size: 0x1000,
      protection: .readWrite)
    #expect(table.translate(0x1FFF)?.physicalAddress == 0x3FFF_FFFF_FFFF)
    #expect(throws: PageTableError.physicalAddressOutOfRange(0x4000_0000_0000)) {
      try table.map(
        virtualAddress: 0x2000, physicalAddress: 0x4000_0000_0000, size: 0x1000,
        protection: .readWrite)
    }
    // Bits above MAXPHYADDR are not part of a table address.
    #expect(format.tableAddress(of: 0x000F_C000_0000_1027, level: 0) == 0x1000)
    try unmapAndFlush(table, 0x1000, 0x1000)
  }

  @Test func impossibleConfigurationsAreRefused() {
    for (levels, bits) in [(3, 52), (6, 52), (4, 35), (5, 53)] {
      #expect(throws: PageTableError.self) {
        try X86_64Format(levels: levels, maxPhysicalAddressBits: bits)
      }
    }
    #expect(throws: Never.self) { try X86_64Format(levels: 5, maxPhysicalAddressBits: 36) }
  }

  @Test func withoutGigabytePagesA1GiBRangeUses2MiBPages() throws {
    let table = try makeTable(X86_64Format(gigabytePages: false))
    try table.map(
      virtualAddress: 0x4000_0000, physicalAddress: 0x4000_0000, size: 0x4000_0000,
      protection: .readWrite)
    #expect(table.translate(0x4000_0000)?.pageSize == 0x20_0000)
    try unmapAndFlush(table, 0x4000_0000, 0x4000_0000)
  }

  @Test func dirtyPagesAreReportedOnceThenCleaned() throws {
    let table = try makeTable(X86_64Format(levels: 5))
    let upper: UInt64 = 0xFF00_0000_0010_0000
    try table.map(
      virtualAddress: 0x10_0000, physicalAddress: 0x10_0000, size: 0x4000, protection: .readWrite)
    try table.map(
      virtualAddress: 0x40_0000, physicalAddress: 0x40_0000, size: 0x20_0000, protection: .readWrite
    )
    try table.map(
      virtualAddress: upper, physicalAddress: 0x80_0000, size: 0x1000, protection: .readWrite)
    // Freshly mapped: A set, D clear, nothing dirty.
    #expect(try Helpers.dirtyRanges(table, 0, 0x100_0000).isEmpty)
    #expect(table.translate(0x10_0000)!.entry & 0x60 == 0x20)
    // The CPU writes to one 4 KiB page, the 2 MiB page and the upper-half page.
    #expect(Helpers.setLeafBits(table, 0x10_2000, 0x40))
    #expect(Helpers.setLeafBits(table, 0x41_2345, 0x40))
    #expect(Helpers.setLeafBits(table, upper, 0x40))
    #expect(
      try Helpers.dirtyRanges(table, 0, 0x100_0000) == [
        0x10_2000...0x10_2FFF, 0x40_0000...0x5F_FFFF,
      ])
    #expect(try Helpers.dirtyRanges(table, upper, 0x1000) == [upper...(upper + 0xFFF)])
    // Reported once: cleaned, still writable and mapped.
    #expect(try Helpers.dirtyRanges(table, 0, 0x100_0000).isEmpty)
    #expect(try Helpers.dirtyRanges(table, upper, 0x1000).isEmpty)
    let page = try #require(table.translate(0x10_2000))
    #expect(page.entry & 0x40 == 0 && page.protection == .readWrite)
    #expect(page.physicalAddress == 0x10_2000)
    try unmapAndFlush(table, 0x10_0000, 0x4000)
    try unmapAndFlush(table, 0x40_0000, 0x20_0000)
    try unmapAndFlush(table, upper, 0x1000)
  }

  @Test func cr3HoldsTheRootAndPCID() throws {
    let format = try X86_64Format(maxPhysicalAddressBits: 46)
    #expect(try format.cr3(rootAddress: 0x1234_5000) == 0x1234_5000)
    #expect(try format.cr3(rootAddress: 0x1234_5000, pcid: 5) == 0x1234_5005)
    #expect(throws: PageTableError.misalignedPhysicalAddress(0x1234_5800)) {
      try format.cr3(rootAddress: 0x1234_5800)
    }
    #expect(throws: PageTableError.physicalAddressOutOfRange(0x4000_0000_0000)) {
      try format.cr3(rootAddress: 0x4000_0000_0000)
    }
    #expect(throws: PageTableError.self) { try format.cr3(rootAddress: 0x1000, pcid: 0x1000) }
  }
}
