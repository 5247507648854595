import PageTables
import Testing

/// Bit-exact entry encodings, derived by hand from the Arm ARM D8.3 descriptor layouts.
@Suite struct ARM64EncodingTests {
  func leaf(_ format: ARM64Format, _ protection: Protection, _ address: UInt64, level: Int)
    throws -> UInt64
  {
    let template = try format.leafTemplate(for: protection, level: level)
    return format.leafEntry(template: template, physicalAddress: address, level: level)
  }

  @Test func stage1PagesEncodeAttrIndxAPShareabilityAFnGPXNAndUXN() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 48)
    let pa: UInt64 = 0x8000_1000
    // valid|page 0x3, SH inner 0x300, AF 0x400, nG 0x800, PXN bit 53, UXN bit 54.
    #expect(try leaf(format, .readWrite, pa, level: 3) == 0x0060_0000_8000_1F03)
    // + AP[2] (read-only) 0x80.
    #expect(try leaf(format, .readOnly, pa, level: 3) == 0x0060_0000_8000_1F83)
    // Privileged execute: PXN clear, UXN set.
    #expect(try leaf(format, .readExecute, pa, level: 3) == 0x0040_0000_8000_1F83)
    // User read/execute: AP = 0b11 (0xC0), PXN set, UXN clear.
    let userText = Protection(execute: true, user: true)
    #expect(try leaf(format, userText, pa, level: 3) == 0x0020_0000_8000_1FC3)
    // User read/write data: AP = 0b01 (0x40), PXN and UXN.
    let userData = Protection(write: true, user: true)
    #expect(try leaf(format, userData, pa, level: 3) == 0x0060_0000_8000_1F43)
    // Device (AttrIndx 1 = 0x4), outer shareable 0x200, global (nG clear).
    let device = Protection(write: true, global: true, memoryType: .device)
    #expect(try leaf(format, device, pa, level: 3) == 0x0060_0000_8000_1607)
    // Non-cacheable (AttrIndx 2 = 0x8), outer shareable, read-only.
    let uncached = Protection(memoryType: .uncached)
    #expect(try leaf(format, uncached, pa, level: 3) == 0x0060_0000_8000_1E8B)
  }

  @Test func blocksHaveBitOneClearAndTheirAddressAtTheirAlignment() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 48)
    #expect(try leaf(format, .readWrite, 0x4020_0000, level: 2) == 0x0060_0000_4020_0F01)
    #expect(try leaf(format, .readWrite, 0x4000_0000, level: 1) == 0x0060_0000_4000_0F01)
    let block = try leaf(format, .readWrite, 0x4020_0000, level: 2)
    #expect(format.outputAddress(of: block, level: 2, virtualAddress: 0x1F_FFFF) == 0x403F_FFFF)
    #expect(format.kind(of: block, level: 2) == .leaf)
  }

  @Test func tableEntriesHoldOnlyTheAddressAndTheTypeBits() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 48)
    let entry = format.tableEntry(pointingTo: 0x8000_3000, level: 0)
    #expect(entry == 0x8000_3003)
    #expect(format.kind(of: entry, level: 0) == .table)
    #expect(format.tableAddress(of: entry | 0xF800_0000_0000_0000, level: 0) == 0x8000_3000)
  }

  @Test func kindFollowsTheValidAndTypeBitsPerLevel() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 48)
    #expect(format.kind(of: 0, level: 3) == .empty)
    #expect(format.kind(of: 0x1000_0003, level: 3) == .leaf)
    #expect(format.kind(of: 0x1000_0001, level: 3) == .empty, "0b01 at level 3 is reserved")
    #expect(format.kind(of: 0x1000_0002, level: 2) == .empty, "bit 0 clear is invalid")
    #expect(format.kind(of: 0x4000_0001, level: 2) == .leaf)
    #expect(format.kind(of: 0x4000_0001, level: 0) == .empty, "no level-0 blocks without LPA2")
    let lpa2 = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 52)
    #expect(lpa2.kind(of: 0x80_0000_0001, level: 0) == .leaf)
  }

  @Test func stage2EncodesMemAttrS2APAndXN() throws {
    // 4K, 40-bit IPA: the root is level 1 (two concatenated tables), pages at index 2.
    let format = try ARM64Format(granule: .k4, stage: .two, inputBits: 40, outputBits: 40)
    let pa: UInt64 = 0x8000_1000
    // MemAttr 0b1111 (0x3C), S2AP 0b11 (0xC0), SH inner, AF, XN bit 54.
    #expect(try leaf(format, .readWrite, pa, level: 2) == 0x0040_0000_8000_17FF)
    #expect(try leaf(format, .readExecute, pa, level: 2) == 0x0000_0000_8000_177F)
    // Device-nGnRE MemAttr 0b0001 (0x4), write-only S2AP 0b10 (0x80), outer shareable.
    let deviceWriteOnly = Protection(read: false, write: true, memoryType: .device)
    #expect(try leaf(format, deviceWriteOnly, pa, level: 2) == 0x0040_0000_8000_1687)
    // Normal non-cacheable MemAttr 0b0101 (0x14).
    let uncached = Protection(execute: true, memoryType: .uncached)
    #expect(try leaf(format, uncached, pa, level: 2) == 0x0000_0000_8000_1657)
    // A 1 GiB block at the concatenated root.
    #expect(try leaf(format, .readWrite, 0x40_0000_0000, level: 0) == 0x0040_0040_0000_07FD)
  }

  @Test func unexpressibleProtectionsAreRefused() throws {
    let stage1 = try ARM64Format(granule: .k4)
    let stage2 = try ARM64Format(granule: .k4, stage: .two, inputBits: 40, outputBits: 40)
    let refusedAtStage1 = [
      Protection(read: false, write: true),  // AP cannot grant write without read
      Protection(read: false, execute: true, user: true),  // nor execute-only
      Protection(read: false),
    ]
    for protection in refusedAtStage1 {
      #expect(throws: PageTableError.unsupportedProtection(protection)) {
        try stage1.leafTemplate(for: protection, level: 3)
      }
    }
    let refusedAtStage2 = [
      Protection(user: true),  // stage 2 has no EL0/EL1 split
      Protection(global: true),  // nor ASIDs
      Protection(read: false, execute: true),  // no data access at all
    ]
    for protection in refusedAtStage2 {
      #expect(throws: PageTableError.unsupportedProtection(protection)) {
        try stage2.leafTemplate(for: protection, level: 2)
      }
    }
    // A refused map changes nothing.
    let table = try makeTable(stage1)
    #expect(throws: PageTableError.unsupportedProtection(refusedAtStage1[0])) {
      try table.map(
        virtualAddress: 0x1000, physicalAddress: 0, size: 0x1000, protection: refusedAtStage1[0])
    }
    #expect(table.dump().isEmpty)
  }

  static var roundTripConfigurations: [ARM64Format] {
    get throws {
      [
        try ARM64Format(granule: .k4),
        try ARM64Format(granule: .k4, inputBits: 52, outputBits: 52),
        try ARM64Format(granule: .k16, inputBits: 47, outputBits: 52, dirtyTracking: true),
        try ARM64Format(granule: .k64, inputBits: 52, outputBits: 52),
        try ARM64Format(granule: .k4, stage: .two, inputBits: 40, outputBits: 40),
        try ARM64Format(
          granule: .k16, stage: .two, inputBits: 48, outputBits: 52, dirtyTracking: true),
        try ARM64Format(granule: .k64, stage: .two, inputBits: 52, outputBits: 52),
      ]
    }
  }

  @Test func everyExpressibleProtectionRoundTripsAtEveryLeafLevel() throws {
    for format in try Self.roundTripConfigurations {
      for (level, geometry) in format.geometry.levels.enumerated() where geometry.allowsLeaf {
        // The highest aligned address the output size allows.
        let pa = (UInt64(1) << UInt64(format.outputBits)) - geometry.leafSize
        for bits in 0..<32 {
          for type in MemoryType.allCases {
            let p = Protection(
              read: bits & 1 != 0, write: bits & 2 != 0, execute: bits & 4 != 0,
              user: bits & 8 != 0, global: bits & 16 != 0, memoryType: type)
            let expressible =
              format.stage == .one ? p.read : !p.user && !p.global && (p.read || p.write)
            let template: UInt64
            do {
              template = try format.leafTemplate(for: p, level: level)
            } catch {
              #expect(error == .unsupportedProtection(p))
              #expect(!expressible, "\(p) refused")
              continue
            }
            #expect(expressible, "\(p) accepted")
            let entry = format.leafEntry(template: template, physicalAddress: pa, level: level)
            #expect(format.kind(of: entry, level: level) == .leaf)
            #expect(format.protection(of: entry, level: level) == p)
            #expect(format.outputAddress(of: entry, level: level, virtualAddress: 0) == pa)
            #expect(!format.isDirty(entry, level: level), "leaves are mapped clean")
          }
        }
      }
    }
  }

  @Test func lpaPutsOutputBits51To48InBits15To12() throws {
    let format = try ARM64Format(granule: .k64, inputBits: 48, outputBits: 52)
    #expect(format.usesLPA)
    let pa: UInt64 = 0x000F_1234_5678_0000
    let entry = try leaf(format, .readWrite, pa, level: 2)
    #expect(entry == 0x0060_1234_5678_FF03)
    #expect(format.outputAddress(of: entry, level: 2, virtualAddress: 0xABCD) == pa | 0xABCD)
    let table = format.tableEntry(pointingTo: 0x000A_0000_0001_0000, level: 0)
    #expect(table == 0x0000_0000_0001_A003)
    #expect(format.tableAddress(of: table, level: 0) == 0x000A_0000_0001_0000)
    // A 4 TiB level-1 block at the top of the 52-bit space.
    let block = try leaf(format, .readWrite, 0x000F_FC00_0000_0000, level: 0)
    #expect(block == 0x0060_FC00_0000_FF01)
  }

  @Test func lpa2PutsOutputBits51To50InBits9To8() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 52)
    #expect(format.usesLPA2)
    let pa: UInt64 = 0x000F_1234_5678_9000
    let entry = try leaf(format, .readWrite, pa, level: 3)
    // No shareability field: bits [9:8] are OA[51:50] = 0b11; OA[49:12] in place.
    #expect(entry == 0x0063_1234_5678_9F03)
    #expect(format.outputAddress(of: entry, level: 3, virtualAddress: 0xFFF) == pa | 0xFFF)
    let device = try leaf(format, Protection(memoryType: .device), 0x1000, level: 3)
    #expect(device & 0x300 == 0, "LPA2 entries carry no shareability")
    let table = format.tableEntry(pointingTo: 0x000D_0000_0000_5000, level: 0)
    #expect(table == 0x0001_0000_0000_5303)
    #expect(format.tableAddress(of: table, level: 0) == 0x000D_0000_0000_5000)
    let sixteen = try ARM64Format(granule: .k16, inputBits: 52, outputBits: 52)
    let block = try leaf(sixteen, .readOnly, 0x000B_FFF0_0000_0000, level: 1)  // 64 GiB block
    #expect(block == 0x0063_FFF0_0000_0E81)
  }

  /// Tables and leaves above 2^48 (and 2^50) through a whole `PageTable`.
  @Test(arguments: [
    (ARM64Format.Granule.k64, UInt64(0x000F_0000_0000_0000)), (.k4, 0x000E_0000_0000_0000),
    (.k16, 0x000C_0000_0000_0000),
  ])
  func tablesAndLeavesAbove48BitsTranslate(_ granule: ARM64Format.Granule, _ imageBase: UInt64)
    throws
  {
    let format = try ARM64Format(granule: granule, inputBits: 52, outputBits: 52)
    let table = try PageTable(
      format: format, memory: ImageTableMemory(base: imageBase, byteCount: 8 << 20),
      options: PageTableOptions(trapOnLeakedMappings: true))
    let va: UInt64 = 0x000F_0000_0000_0000
    let pa: UInt64 = 0x000E_0000_0000_0000 | granule.bytes
    try table.map(
      virtualAddress: va, physicalAddress: pa, size: granule.bytes * 3, protection: .readWrite)
    for k in UInt64(0)..<3 {
      #expect(
        table.translate(va + k * granule.bytes + 7)?.physicalAddress == pa + k * granule.bytes + 7)
    }
    let slot = try #require(HardwareSimulation.leafSlot(table, va))
    #expect(slot.table >= imageBase, "the walk reached a table above 2^48")
    #expect(
      table.dump() == [
        MappingRun(
          virtualAddress: va, physicalAddress: pa, size: granule.bytes * 3, protection: .readWrite)
      ])
    try unmapAndFlush(table, va, granule.bytes * 3)
    #expect(table.memory.liveTables == 1)
  }

  /// A batch of leaves whose output crosses the 2^48 (LPA) or 2^50 (LPA2) line is
  /// not linear in the entry; each entry must still hold its own address.
  @Test(arguments: [false, true])
  func batchesCrossingTheSplitAddressLineAreExact(_ contiguousRuns: Bool) throws {
    let cases: [(ARM64Format, UInt64, Int)] = [
      (try ARM64Format(granule: .k64, inputBits: 48, outputBits: 52), 1 << 48, 2),
      (try ARM64Format(granule: .k64, inputBits: 48, outputBits: 52), 1 << 48, 1),
      (try ARM64Format(granule: .k4, inputBits: 48, outputBits: 52), 1 << 50, 3),
      (try ARM64Format(granule: .k4, inputBits: 48, outputBits: 52), 1 << 50, 2),
      (try ARM64Format(granule: .k16, inputBits: 48, outputBits: 52), 1 << 50, 3),
    ]
    for (format, line, level) in cases {
      let size = format.geometry.levels[level].leafSize
      let table = try PageTable(
        format: format, memory: ImageTableMemory(base: 0x4000_0000, byteCount: 8 << 20),
        options: PageTableOptions(trapOnLeakedMappings: true, useContiguousRuns: contiguousRuns))
      let va = size * 64
      let pa = line - size * 5
      try table.map(
        virtualAddress: va, physicalAddress: pa, size: size * 12, protection: .readWrite)
      for k in UInt64(0)..<12 {
        let found = table.translate(va + k * size + 8)
        #expect(found?.physicalAddress == pa + k * size + 8, "\(format.granule) leaf \(k)")
        #expect(found?.pageSize == size)
      }
      try unmapAndFlush(table, va, size * 12)
    }
  }
}
