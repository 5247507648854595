import PageTables
import Testing

extension FormatCases {
  /// AppleDART configurations for the table-driven suite.
  static var appleDART: [FormatCase] {
    let dart1: [Protection] = [.readWrite, .readOnly, Protection(read: false, write: true)]
    let dart2 = dart1 + [Protection(write: true, memoryType: .uncached)]
    func dart(_ version: AppleDARTFormat.Version, _ granule: AppleDARTFormat.Granule, _ bits: Int)
      -> FormatCase
    {
      let format = try? AppleDARTFormat(version: version, granule: granule, inputBits: bits)
      let shape = format.map {
        "\($0.geometry.levels.count) levels, \($0.geometry.rootCount) roots"
      }
      return FormatCase(
        "AppleDART \(version) \(granule) ias\(bits) (\(shape ?? "invalid"))",
        protections: version == .dart1 ? dart1 : dart2
      ) { try AppleDARTFormat(version: version, granule: granule, inputBits: bits) }
    }
    return [
      dart(.dart1, .k4, 30),  // 2 levels, 1 root
      dart(.dart1, .k4, 32),  // 2 levels, 4 roots
      dart(.dart1, .k4, 36),  // 3 levels, 1 root
      dart(.dart1, .k16, 36),  // 2 levels, 1 root (16 KiB DARTs never have more)
      dart(.dart2, .k16, 36),  // 2 levels, 1 root
      dart(.dart2, .k16, 42),  // 3 levels, 1 root
    ]
  }
}

@Suite struct AppleDARTTests {
  func entry(_ memory: ImageTableMemory, _ table: UInt64, _ index: Int) throws -> UInt64 {
    try #require(memory.readWord(at: table + UInt64(index) * 8))
  }

  @Test func dart1LeafHasTheDriversBits() throws {
    let table = try makeTable(try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32))
    try table.map(
      virtualAddress: 0x1000, physicalAddress: 0x8_2000_3000, size: 0x1000, protection: .readWrite)
    try table.map(
      virtualAddress: 0x2000, physicalAddress: 0x8_2000_3000, size: 0x1000, protection: .readOnly)
    // dart_prot_to_pte (DART1): SP_DIS (bit 1), NO_WRITE (bit 7) without IOMMU_WRITE;
    // dart_init_pte: subpage end 0xfff << 40 = 0x000F_FF00_0000_0000, VALID (bit 0);
    // paddr & GENMASK(35, 12) = 0x8_2000_3000.
    #expect(table.translate(0x1000)?.entry == 0x000F_FF08_2000_3003)
    #expect(table.translate(0x2000)?.entry == 0x000F_FF08_2000_3083)
    #expect(table.translate(0x2abc)?.physicalAddress == 0x8_2000_3abc)
    // The root's entry 0 points at the leaf table: its address plus VALID.
    let root = try entry(table.memory, table.rootAddress(0), 0)
    #expect(root & 1 == 1 && root & ~UInt64(0xFFF) == root & ~UInt64(1))
    #expect(try entry(table.memory, root & ~UInt64(1), 1) == 0x000F_FF08_2000_3003)
    try unmapAndFlush(table, 0x1000, 0x2000)
  }

  @Test func dart2LeafAndTableStoreTheAddressShiftedRightByFour() throws {
    let table = try makeTable(try AppleDARTFormat(version: .dart2, granule: .k16, inputBits: 36))
    let pa: UInt64 = 0x3F_8765_4000  // physical bit 37 set: a 42-bit address
    try table.map(virtualAddress: 0x4000, physicalAddress: pa, size: 0x4000, protection: .readWrite)
    try table.map(
      virtualAddress: 0x8000, physicalAddress: pa, size: 0x4000,
      protection: Protection(memoryType: .uncached))
    // (paddr >> 4) & GENMASK(37, 10) = 0x3_F876_5400; subpage end 0xfff << 40; VALID.
    // No SP_DIS on DART2. Read-only uncached adds NO_WRITE (bit 2) and NO_CACHE (bit 1).
    #expect(table.translate(0x4000)?.entry == 0x000F_FF03_F876_5401)
    #expect(table.translate(0x8000)?.entry == 0x000F_FF03_F876_5407)
    #expect(table.translate(0x8123)?.physicalAddress == pa + 0x123)
    #expect(table.translate(0x8000)?.protection == Protection(memoryType: .uncached))
    // The table entry uses the same shifted encoding.
    struct Tables: PageTableVisitor {
      var found: [UInt64] = []
      mutating func enterTable(virtualAddress: UInt64, level: Int, physicalAddress: UInt64) {
        if level == 1 { found.append(physicalAddress) }
      }
    }
    var visitor = Tables()
    table.walkAll(visitor: &visitor)
    let tables = visitor.found
    let leafTable = try #require(tables.first)
    #expect(tables.count == 1)
    #expect(try entry(table.memory, table.rootAddress(), 0) == (leafTable >> 4) | 1)
    try unmapAndFlush(table, 0x4000, 0x8000)
  }

  @Test func topQuarterOfTheInputRangeUsesTheFourthRoot() throws {
    let table = try makeTable(try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32))
    #expect(table.rootCount == 4)
    let va: UInt64 = 0xC020_1000  // VA[31:30] = 3, L1 index VA[29:21] = 1, L2 index 1
    try table.map(
      virtualAddress: va, physicalAddress: 0x4_0000_0000, size: 0x1000, protection: .readWrite)
    #expect(table.translate(va)?.physicalAddress == 0x4_0000_0000)
    for root in 0..<4 {
      for index in [0, 1] {
        let e = try entry(table.memory, table.rootAddress(root), index)
        #expect((e != 0) == (root == 3 && index == 1), "root \(root) entry \(index)")
      }
    }
    let l1 = try entry(table.memory, table.rootAddress(3), 1)
    #expect(try entry(table.memory, l1 & ~UInt64(1), 1) == table.translate(va)?.entry)
    #expect(table.dump().map(\.virtualAddress) == [va])
    #expect(throws: PageTableError.virtualAddressOutOfRange(1 << 32)) {
      try table.map(
        virtualAddress: 1 << 32, physicalAddress: 0, size: 0x1000, protection: .readWrite)
    }
    try unmapAndFlush(table, va, 0x1000)
  }

  @Test func levelsAndRootsFollowTheInputSizeAsLinuxDerivesThem() throws {
    // (version, granule, ias) → (levels, roots), from dart_alloc_pgtable.
    let cases: [(AppleDARTFormat.Version, AppleDARTFormat.Granule, Int, Int, Int)] = [
      (.dart1, .k4, 21, 2, 1), (.dart1, .k4, 30, 2, 1), (.dart1, .k4, 31, 2, 2),
      (.dart1, .k4, 32, 2, 4), (.dart1, .k4, 33, 3, 1), (.dart1, .k4, 36, 3, 1),
      (.dart1, .k16, 32, 2, 1), (.dart1, .k16, 36, 2, 1), (.dart2, .k16, 36, 2, 1),
      (.dart2, .k16, 37, 3, 1), (.dart2, .k16, 42, 3, 1),
    ]
    for (version, granule, bits, levels, roots) in cases {
      let geometry = try AppleDARTFormat(version: version, granule: granule, inputBits: bits)
        .geometry
      #expect(geometry.levels.count == levels, "\(version) \(granule) ias \(bits)")
      #expect(geometry.rootCount == roots, "\(version) \(granule) ias \(bits)")
      #expect(geometry.leafSizes == [geometry.granule], "one page size, no blocks")
      #expect(geometry.windows == [VirtualWindow(first: 0, last: (1 << UInt64(bits)) - 1)])
      #expect(geometry.outputBits == version.outputBits)
    }
  }

  @Test func impossibleConfigurationsAreRefused() {
    let refused: [(AppleDARTFormat.Version, AppleDARTFormat.Granule, Int)] = [
      (.dart2, .k4, 32),  // the DART2 address field cannot hold 4 KiB-aligned addresses
      (.dart1, .k4, 37),  // input above the 36-bit output
      (.dart2, .k16, 43),  // input above the 42-bit output
      (.dart1, .k4, 12),  // nothing above the page offset
    ]
    for (version, granule, bits) in refused {
      #expect(throws: PageTableError.self, "\(version) \(granule) ias \(bits)") {
        try AppleDARTFormat(version: version, granule: granule, inputBits: bits)
      }
    }
  }

  @Test(arguments: AppleDARTFormat.Version.allCases)
  func everyProtectionEncodesOrIsRefused(_ version: AppleDARTFormat.Version) throws {
    let format = try AppleDARTFormat(version: version, granule: .k16, inputBits: 36)
    let (noRead, noWrite, bit1): (UInt64, UInt64, UInt64) =
      version == .dart1 ? (1 << 8, 1 << 7, 1 << 1) : (1 << 3, 1 << 2, 1 << 1)
    var encoded = 0
    for bits in 0..<32 {
      let flag = (0..<5).map { bits & (1 << $0) != 0 }
      for memoryType in MemoryType.allCases {
        let p = Protection(
          read: flag[0], write: flag[1], execute: flag[2], user: flag[3], global: flag[4],
          memoryType: memoryType)
        let typeOK = memoryType == .normal || (version == .dart2 && memoryType == .uncached)
        guard (p.read || p.write) && !p.execute && !p.user && !p.global && typeOK else {
          #expect(throws: PageTableError.unsupportedProtection(p)) {
            try format.leafTemplate(for: p, level: 1)
          }
          continue
        }
        let template = try format.leafTemplate(for: p, level: 1)
        #expect((template & noRead != 0) == !p.read, "\(p)")
        #expect((template & noWrite != 0) == !p.write, "\(p)")
        // Bit 1 is SP_DIS on DART1 (always set) and NO_CACHE on DART2.
        #expect((template & bit1 != 0) == (version == .dart1 || memoryType == .uncached))
        #expect(template & 1 == 1)
        #expect(template >> 40 == 0xfff, "sub-page range start 0, end 0xfff")
        let leaf = format.leafEntry(template: template, physicalAddress: 0x8_0000_4000, level: 1)
        #expect(format.protection(of: leaf, level: 1) == p)
        #expect(format.outputAddress(of: leaf, level: 1, virtualAddress: 0x1234) == 0x8_0000_5234)
        encoded += 1
      }
    }
    #expect(encoded == (version == .dart1 ? 3 : 6))
  }

  @Test func invalidEntriesAreEmptyAndValidOnesAreTablesThenLeaves() throws {
    let format = try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 36)
    #expect(format.kind(of: 0, level: 0) == .empty)
    #expect(format.kind(of: 0x8_0000_0000, level: 2) == .empty, "no VALID bit")
    #expect(
      format.kind(of: format.tableEntry(pointingTo: 0x8_0000_0000, level: 0), level: 0) == .table)
    #expect(
      format.kind(of: format.tableEntry(pointingTo: 0x8_0000_0000, level: 1), level: 1) == .table)
    #expect(format.tableAddress(of: 0x8_1234_5001, level: 1) == 0x8_1234_5000)
    #expect(format.kind(of: 0x000F_FF08_0000_0003, level: 2) == .leaf)
  }
}
