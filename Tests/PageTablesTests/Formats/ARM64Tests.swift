import PageTables
import Testing

extension FormatCases {
  /// ARM64 configurations for the table-driven suite: Linux's io-pgtable-arm selftest
  /// matrix (three granules × every IAS ≤ OAS in {32, 36, 40, 42, 44, 48} × stage 1
  /// and 2), plus 52-bit (FEAT_LPA, FEAT_LPA2, FEAT_LVA), dirty-tracking and TTBR1
  /// cases.
  static var arm64: [FormatCase] {
    var cases: [FormatCase] = []
    let sizes = [32, 36, 40, 42, 44, 48]
    for granule in ARM64Format.Granule.allCases {
      for stage in [ARM64Format.Stage.one, .two] {
        for ias in sizes {
          for oas in sizes where ias <= oas {
            cases.append(arm64Case(granule, stage, ias, oas))
          }
        }
      }
    }
    for granule in ARM64Format.Granule.allCases {
      // 52-bit input and output (LPA with 64K, LPA2 with 4K/16K), 52-bit output only,
      // and 52-bit input only (FEAT_LVA with 64K, LPA2 with 4K/16K).
      for (ias, oas) in [(52, 52), (48, 52), (52, 48)] {
        cases.append(arm64Case(granule, .one, ias, oas))
      }
      cases.append(arm64Case(granule, .two, 52, 52))
    }
    // Odd input sizes operating systems use (Linux 39-bit 4K, 47-bit 16K, 42-bit 64K).
    cases.append(arm64Case(.k4, .one, 39, 40))
    cases.append(arm64Case(.k16, .one, 47, 48))
    cases.append(arm64Case(.k64, .one, 42, 44))
    // Hardware dirty state.
    cases.append(arm64Case(.k4, .one, 48, 48, dirty: true))
    cases.append(arm64Case(.k16, .two, 40, 40, dirty: true))
    cases.append(arm64Case(.k64, .one, 52, 52, dirty: true))
    // The upper (TTBR1) window.
    cases.append(arm64Case(.k4, .one, 48, 48, base: .ttbr1))
    cases.append(arm64Case(.k4, .one, 39, 40, base: .ttbr1))
    cases.append(arm64Case(.k16, .one, 47, 48, base: .ttbr1))
    cases.append(arm64Case(.k64, .one, 52, 52, base: .ttbr1))
    return cases
  }

  /// Protections every stage-1 configuration can express.
  static var arm64Stage1Protections: [Protection] {
    [
      .readWrite, .readOnly, Protection(execute: true, user: true),
      Protection(write: true, user: true, global: true, memoryType: .device),
      Protection(execute: true, global: true, memoryType: .uncached),
      // OS bits, MAIR index 6, access flag left to the hardware.
      Protection(write: true, softwareBits: 0b0101, attributeIndex: 6, accessed: false),
    ]
  }

  /// Protections every stage-2 configuration can express.
  static var arm64Stage2Protections: [Protection] {
    [
      .readWrite, .readOnly, .readExecute,
      Protection(read: false, write: true, memoryType: .device),
      Protection(execute: true, memoryType: .uncached),
      // OS bits, MemAttr 0 (Device-nGnRnE), access flag left to the hardware.
      Protection(
        write: true, memoryType: .device, softwareBits: 0b1001, attributeIndex: 0, accessed: false),
    ]
  }

  static func arm64Case(
    _ granule: ARM64Format.Granule, _ stage: ARM64Format.Stage, _ ias: Int, _ oas: Int,
    dirty: Bool = false, base: ARM64Format.TranslationBase = .ttbr0
  ) -> FormatCase {
    var name = "ARM64 s\(stage.rawValue) \(granule.bytes >> 10)K ias\(ias) oas\(oas)"
    if dirty { name += " dirty" }
    if base == .ttbr1 { name += " ttbr1" }
    return FormatCase(
      name, protections: stage == .one ? arm64Stage1Protections : arm64Stage2Protections
    ) {
      try ARM64Format(
        granule: granule, stage: stage, inputBits: ias, outputBits: oas, translationBase: base,
        dirtyTracking: dirty)
    }
  }
}

/// The shape of ARM64 tables: start levels, concatenation, block and contiguous sizes,
/// and the configurations the architecture does not define.
@Suite struct ARM64ConfigurationTests {
  typealias Granule = ARM64Format.Granule

  /// Every input size of every granule and stage.
  static var everyInputSize: [(Granule, ARM64Format.Stage, Int)] {
    Granule.allCases.flatMap { granule in
      [ARM64Format.Stage.one, .two].flatMap { stage in (32...52).map { (granule, stage, $0) } }
    }
  }

  @Test(arguments: everyInputSize)
  func rootCoversExactlyTheInputSize(_ granule: Granule, _ stage: ARM64Format.Stage, _ ias: Int)
    throws
  {
    let format = try ARM64Format(
      granule: granule, stage: stage, inputBits: ias, outputBits: ias > 48 ? 52 : 48)
    let levels = format.geometry.levels
    #expect(format.geometry.rootCoverageBits == ias)
    #expect(format.geometry.windows == [VirtualWindow(first: 0, last: (1 << UInt64(ias)) - 1)])
    #expect(levels.count == 4 - format.startLevel)
    #expect(levels.last?.shift == granule.pageShift)
    let root = levels[0].indexBits
    #expect(root >= 1)
    // Stage 1 resolves at most one stride at the root; stage 2 up to 16 tables' worth.
    #expect(root <= granule.stride + (stage == .two ? 4 : 0))
    #expect(format.concatenatedTables == 1 << max(0, root - granule.stride))
    // The start level is the architecture's (AArch64.S1StartLevel) at stage 1.
    if stage == .one {
      #expect(format.startLevel == 3 - (ias - 1 - granule.pageShift) / granule.stride)
    }
  }

  /// Maps, translates and unmaps one leaf of every size, and the window's last page,
  /// in a small image (the matrix covers the common sizes in depth).
  @Test(arguments: everyInputSize)
  func everyInputSizeMapsEveryLeafSizeAndTheTopPage(
    _ granule: Granule, _ stage: ARM64Format.Stage, _ ias: Int
  ) throws {
    let format = try ARM64Format(
      granule: granule, stage: stage, inputBits: ias, outputBits: ias > 48 ? 52 : 48)
    let geometry = format.geometry
    let imageBytes = geometry.levels[0].tableBytes + 2 * geometry.levels.count * Int(granule.bytes)
    let table = try PageTable(
      format: format,
      memory: ImageTableMemory(base: 0x4000_0000, byteCount: (imageBytes + 0xFFFF) & ~0xFFFF),
      options: PageTableOptions(trapOnLeakedMappings: true))
    let top = geometry.windows[0].last
    var targets = geometry.leafSizes.filter { $0 < top / 2 }.map { ($0, $0) }
    targets.append((top - granule.bytes + 1, granule.bytes))
    for (va, size) in targets {
      let pa = size * 2
      try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: .readWrite)
      let found = try #require(table.translate(va + size - 1), "0x\(String(va, radix: 16))")
      #expect(found.physicalAddress == pa + size - 1)
      #expect(found.pageSize == size)
      #expect(try unmapAndFlush(table, va, size) == size)
      #expect(table.translate(va) == nil)
    }
    #expect(table.memory.liveTables == 1, "every table but the root was freed")
  }

  @Test func stage1StartLevelsFollowTheArchitecture() throws {
    // (granule, first IAS, last IAS, start level), from AArch64.S1StartLevel.
    let expected: [(Granule, Int, Int, Int)] = [
      (.k4, 32, 39, 1), (.k4, 40, 48, 0), (.k4, 49, 52, -1),
      (.k16, 32, 36, 2), (.k16, 37, 47, 1), (.k16, 48, 52, 0),
      (.k64, 32, 42, 2), (.k64, 43, 52, 1),
    ]
    for (granule, first, last, level) in expected {
      for ias in first...last {
        let format = try ARM64Format(granule: granule, inputBits: ias, outputBits: 52)
        #expect(format.startLevel == level, "\(granule) ias \(ias)")
      }
    }
  }

  @Test func stage2ConcatenatesRootTablesWhenThatSavesALevel() throws {
    // (granule, IAS, start level, concatenated tables).
    let expected: [(Granule, Int, Int, Int)] = [
      // Linux's mandatory cases (Arm ARM R_DXBSH, R_SRKBC): 4K 40/42-bit, 16K 40/48-bit.
      (.k4, 40, 1, 2), (.k4, 42, 1, 8), (.k16, 40, 2, 16), (.k16, 48, 1, 2),
      (.k4, 43, 1, 16), (.k4, 44, 0, 1), (.k4, 48, 0, 1), (.k4, 32, 2, 4), (.k4, 36, 1, 1),
      (.k4, 52, 0, 16), (.k16, 41, 1, 1), (.k16, 52, 0, 1), (.k16, 36, 2, 1),
      (.k64, 32, 3, 8), (.k64, 34, 2, 1), (.k64, 44, 2, 4), (.k64, 45, 2, 8), (.k64, 46, 2, 16),
      (.k64, 47, 1, 1), (.k64, 52, 1, 1),
    ]
    for (granule, ias, level, tables) in expected {
      let format = try ARM64Format(granule: granule, stage: .two, inputBits: ias, outputBits: 52)
      #expect(format.startLevel == level, "\(granule) ias \(ias)")
      #expect(format.concatenatedTables == tables, "\(granule) ias \(ias)")
      #expect(
        format.geometry.levels[0].tableBytes == tables * Int(granule.bytes) || tables == 1,
        "the root of \(tables) concatenated tables is \(tables) granules")
    }
  }

  @Test func concatenatedStage2RootTranslatesAcrossItsTables() throws {
    // 4K, 40-bit IPA: two level-1 tables side by side; the second covers 512 GiB up.
    let format = try ARM64Format(granule: .k4, stage: .two, inputBits: 40, outputBits: 40)
    let table = try makeTable(format)
    #expect(table.level(0).tableBytes == 8192)
    #expect(table.rootAddress() % 8192 == 0, "a concatenated root is aligned to its size")
    let high: UInt64 = 0xC0_0000_0000  // in the second table
    try table.map(
      virtualAddress: high, physicalAddress: 0x4000_0000, size: 1 << 30, protection: .readWrite)
    #expect(table.translate(high + 0x1234)?.physicalAddress == 0x4000_1234)
    #expect(table.translate(high + 0x1234)?.pageSize == 1 << 30)
    // The entry is index 256 of the second table: index 768 of the concatenated root.
    let entry = try #require(table.memory.readWord(at: table.rootAddress() + 8 * 0x300))
    #expect(entry & 0xFFFF_FFFF_F000 == 0x4000_0000)
    try unmapAndFlush(table, high, 1 << 30)
  }

  @Test func blockSizesFollowTheGranuleAndAddressSize() throws {
    let gib: UInt64 = 1 << 30
    let expected: [(Granule, Int, Int, [UInt64])] = [
      (.k4, 48, 48, [gib, 2 << 20, 4096]),
      (.k4, 48, 52, [512 * gib, gib, 2 << 20, 4096]),  // LPA2: level-0 blocks
      (.k4, 52, 48, [512 * gib, gib, 2 << 20, 4096]),
      (.k4, 32, 32, [gib, 2 << 20, 4096]),
      (.k16, 48, 48, [32 << 20, 16384]),
      (.k16, 48, 52, [64 * gib, 32 << 20, 16384]),  // LPA2: level-1 blocks
      (.k64, 48, 48, [512 << 20, 65536]),
      (.k64, 52, 48, [512 << 20, 65536]),  // LVA alone adds no block size
      (.k64, 48, 52, [4096 * gib, 512 << 20, 65536]),  // LPA: level-1 blocks
    ]
    for (granule, ias, oas, sizes) in expected {
      let format = try ARM64Format(granule: granule, inputBits: ias, outputBits: oas)
      #expect(format.geometry.leafSizes == sizes, "\(granule) ias \(ias) oas \(oas)")
    }
  }

  @Test func fourKilobyteLPA2With52BitInputStartsAtLevelMinusOne() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 52, outputBits: 52)
    #expect(format.startLevel == -1)
    #expect(format.usesLPA2)
    #expect(format.geometry.levels.map(\.shift) == [48, 39, 30, 21, 12])
    #expect(format.geometry.levels.map(\.indexBits) == [4, 9, 9, 9, 9])
    #expect(format.geometry.levels.map(\.allowsLeaf) == [false, true, true, true, true])
  }

  @Test func contiguousRunsFollowTheArmARM() throws {
    // Entries per contiguous set, root first (D8.6.1): 1 where the bit is RES0.
    let expected: [(Granule, Int, Int, [Int])] = [
      (.k4, 48, 48, [1, 16, 16, 16]),
      (.k4, 48, 52, [1, 16, 16, 16]),  // LPA2 level-0 blocks have no contiguous bit
      (.k16, 48, 48, [1, 1, 32, 128]),
      (.k16, 48, 52, [1, 1, 32, 128]),
      (.k64, 48, 48, [1, 32, 32]),
      (.k64, 48, 52, [1, 32, 32]),  // nor do LPA level-1 blocks
      (.k4, 32, 32, [1, 16, 16]),  // a 4-entry root cannot hold a set of 16
    ]
    for (granule, ias, oas, runs) in expected {
      let format = try ARM64Format(granule: granule, inputBits: ias, outputBits: oas)
      #expect(
        format.geometry.levels.map(\.contiguousRun) == runs, "\(granule) ias \(ias) oas \(oas)")
    }
  }

  @Test func upperWindowIsTheTopOfTheAddressSpace() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 39, translationBase: .ttbr1)
    #expect(
      format.geometry.windows == [VirtualWindow(first: 0xFFFF_FF80_0000_0000, last: ~0)])
    let table = try makeTable(format)
    let va: UInt64 = 0xFFFF_FF80_0020_0000
    try table.map(
      virtualAddress: va, physicalAddress: 0x8000_0000, size: 0x20_0000, protection: .readWrite)
    #expect(table.translate(va + 5)?.physicalAddress == 0x8000_0005)
    #expect(table.translate(0x20_0000) == nil, "the lower window is not translated")
    #expect(table.dump().map(\.virtualAddress) == [va])
    try unmapAndFlush(table, va, 0x20_0000)
  }

  @Test func impossibleConfigurationsAreRefused() {
    let bad: [(Granule, ARM64Format.Stage, Int, Int, ARM64Format.TranslationBase)] = [
      (.k4, .one, 31, 48, .ttbr0),
      (.k4, .one, 53, 52, .ttbr0),
      (.k64, .one, 64, 52, .ttbr0),
      (.k4, .one, 48, 46, .ttbr0),
      (.k16, .one, 48, 50, .ttbr0),
      (.k64, .one, 48, 56, .ttbr0),
      (.k4, .two, 40, 40, .ttbr1),
    ]
    for (granule, stage, ias, oas, base) in bad {
      #expect(throws: PageTableError.self, "\(granule) s\(stage.rawValue) \(ias)/\(oas)") {
        try ARM64Format(
          granule: granule, stage: stage, inputBits: ias, outputBits: oas, translationBase: base)
      }
      do {
        _ = try ARM64Format(
          granule: granule, stage: stage, inputBits: ias, outputBits: oas, translationBase: base)
      } catch {
        guard case .invalidConfiguration = error else {
          Issue.record("expected invalidConfiguration, got \(error)")
          continue
        }
      }
    }
  }

  @Test func mairMatchesTheDocumentedAttributeIndices() {
    let attributes = (0..<8).map { UInt8(truncatingIfNeeded: ARM64Format.mair >> (8 * $0)) }
    #expect(attributes == [0xFF, 0x04, 0x44, 0, 0, 0, 0, 0])
  }
}
