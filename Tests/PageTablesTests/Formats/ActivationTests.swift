import PageTables
import Testing

/// Activation register values, each derived by hand from the primary document's
/// register layout (see each format's `+Activation.swift` for the citations).
@Suite struct ActivationTests {
  @Test func arm64TTBR0Table4KWith8BitASID() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 48)
    let activation = try format.stage1Activation(rootAddress: 0x4200_0000, asid: 7)
    #expect(activation.ttbr0 == 0x0007_0000_4200_0000)
    #expect(activation.ttbr1 == 0)
    // T0SZ 16, IRGN0 1, ORGN0 1, SH0 3, TG0 4K, T1SZ 16, EPD1, TG1 4K (2), IPS 48 (5).
    #expect(activation.tcr.value == 0x0000_0005_8090_3510)
    #expect(activation.mair.value == 0x44_04FF)
    #expect(
      activation.registers == [
        RegisterValue("MAIR_EL1", 0x44_04FF), RegisterValue("TCR_EL1", 0x0000_0005_8090_3510),
        RegisterValue("TTBR0_EL1", 0x0007_0000_4200_0000), RegisterValue("TTBR1_EL1", 0),
      ])
  }

  @Test func arm64TTBR1Table16KWith16BitASID() throws {
    let format = try ARM64Format(
      granule: .k16, inputBits: 47, outputBits: 44, translationBase: .ttbr1)
    let activation = try format.stage1Activation(rootAddress: 0x4200_4000, asid: 0x1234)
    #expect(activation.ttbr0 == 0)
    #expect(activation.ttbr1 == 0x1234_0000_4200_4000)
    // T0SZ 17, EPD0, T1SZ 17, A1, IRGN1 1, ORGN1 1, SH1 3, TG1 16K (1), IPS 44 (4), AS.
    #expect(activation.tcr.value == 0x0000_0014_7551_0091)
  }

  @Test func arm64LPA2WithDirtyTrackingSetsDSHAHDAndSplitsTheBase() throws {
    let format = try ARM64Format(
      granule: .k4, inputBits: 52, outputBits: 52, dirtyTracking: true)
    let activation = try format.stage1Activation(rootAddress: 0x000A_0000_1234_5000)
    // BADDR[47:6] in place, BADDR[51:48] = 0xA in bits [5:2].
    #expect(activation.ttbr0 == 0x1234_5028)
    // T0SZ 12, walks WB/IS, T1SZ 12, EPD1, TG1 4K, IPS 52 (6), HA, HD, DS.
    #expect(activation.tcr.value == 0x0800_0186_808C_350C)
  }

  @Test func arm64CombinedLowerAndUpperTables() throws {
    let lower = try ARM64Format(granule: .k4, inputBits: 48)
    let upper = try ARM64Format(granule: .k4, inputBits: 39, translationBase: .ttbr1)
    let combined = try lower.stage1Activation(rootAddress: 0x4200_0000, asid: 3)
      .combined(withUpper: upper.stage1Activation(rootAddress: 0x4300_0000, asid: 3))
    #expect(combined.ttbr0 == 0x0003_0000_4200_0000)
    #expect(combined.ttbr1 == 0x4300_0000)
    // T0SZ 16 and T1SZ 25, both walks WB/IS, TG0 4K, TG1 4K, IPS 48, ASID from TTBR0.
    #expect(combined.tcr.value == 0x0000_0005_B519_3510)
    #expect(throws: PageTableError.self) {
      try upper.stage1Activation(rootAddress: 0x4300_0000)
        .combined(withUpper: lower.stage1Activation(rootAddress: 0x4200_0000))
    }
  }

  @Test func arm64MemoryAttributesSubscript() {
    var attributes = ARM64Format.MemoryAttributes.standard
    #expect(attributes[0] == 0xFF && attributes[1] == 0x04 && attributes[2] == 0x44)
    attributes[5] = 0xBB
    #expect(attributes.value == 0x0000_BB00_0044_04FF)
  }

  @Test func arm64Stage2ConcatenatedRootAndVMID() throws {
    let format = try ARM64Format(granule: .k4, stage: .two, inputBits: 40, outputBits: 40)
    #expect(format.startLevel == 1 && format.concatenatedTables == 2)
    let activation = try format.stage2Activation(rootAddress: 0x4200_0000, vmid: 5)
    #expect(activation.vttbr == 0x0005_0000_4200_0000)
    // T0SZ 24, SL0 1 (level 1 with 4K), WB/IS walks, TG0 4K, PS 40 (2), RES1 bit 31.
    #expect(activation.vtcr.value == 0x8002_3558)
    let k16 = try ARM64Format(granule: .k16, stage: .two, inputBits: 42, outputBits: 48)
    // T0SZ 22, SL0 2 (level 1 with 16K), TG0 16K (2), PS 48 (5).
    #expect(try k16.stage2Activation(rootAddress: 0x4200_0000).vtcr.value == 0x8005_B596)
  }

  @Test func arm64RefusesWrongStageMisalignedAndOutOfRangeRoots() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 40)
    #expect(throws: PageTableError.misalignedPhysicalAddress(0x4200_0800)) {
      try format.stage1Activation(rootAddress: 0x4200_0800)
    }
    #expect(throws: PageTableError.physicalAddressOutOfRange(1 << 40)) {
      try format.stage1Activation(rootAddress: 1 << 40)
    }
    #expect(throws: PageTableError.self) { try format.stage2Activation(rootAddress: 0) }
  }

  @Test func x86FourAndFiveLevel() throws {
    let four = try X86_64Format(levels: 4)
    let activation = try four.activation(rootAddress: 0x20_0000)
    #expect(activation.cr3 == 0x20_0000)
    #expect(activation.cr4 == 0xA0)  // PAE, PGE
    #expect(activation.efer == 0x900)  // LME, NXE
    #expect(activation.cr0 == 0x8001_0001)  // PE, WP, PG
    #expect(activation.pat == 0x0007_0406_0007_0406)
    #expect(!activation.fiveLevel)
    let five = try X86_64Format(levels: 5, noExecute: false, pat: .linux)
    let tagged = try five.activation(rootAddress: 0x20_0000, pcid: 3)
    #expect(tagged.cr3 == 0x20_0003)
    #expect(tagged.cr4 == 0x2_10A0)  // PAE, PGE, LA57, PCIDE
    #expect(tagged.efer == 0x100)  // LME only
    #expect(tagged.pat == 0x0407_0506_0007_0106)
    #expect(tagged.fiveLevel)
    #expect(throws: PageTableError.invalidConfiguration("a PCID has 12 bits")) {
      try four.activation(rootAddress: 0x20_0000, pcid: 0x1000)
    }
  }

  @Test func riscvSatpAndMenvcfg() throws {
    let format = RISCVFormat(.sv48, svpbmt: true)
    let activation = try format.activation(rootAddress: 0x8220_0000, asid: 9)
    #expect(activation.satp == 0x9000_9000_0008_2200)
    #expect(activation.mode == 9 && activation.rootPageNumber == 0x82200)
    #expect(activation.menvcfg == 0x4000_0000_0000_0000)  // PBMTE
    let plain = try RISCVFormat(.sv39, svpbmt: false)
      .activation(rootAddress: 0x8220_0000, hardwareAccessedDirty: true)
    #expect(plain.satp == 0x8000_0000_0008_2200)
    #expect(plain.menvcfg == 0x2000_0000_0000_0000)  // ADUE
  }

  @Test func uatContextSlot() throws {
    let slot = try AppleUATFormat.contextActivation(
      userRoot: 0x8_1234_4000, asid: 5, kernelRoot: 0x8_0000_4000)
    #expect(slot.ttb0 == 0x0005_0008_1234_4001)
    #expect(slot.ttb1 == 0x8_0000_4001)
    let kernelOnly = try AppleUATFormat.contextActivation(
      userRoot: nil, asid: 0, kernelRoot: 0x8_0000_4000)
    #expect(kernelOnly.ttb0 == 0 && kernelOnly.ttb1 == 0x8_0000_4001)
    #expect(throws: PageTableError.self) {
      try AppleUATFormat.contextActivation(userRoot: nil, asid: 64, kernelRoot: nil)
    }
  }

  @Test func dartTTBRsForBothRegisterLayouts() throws {
    let dart1 = try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32)
    let roots: [UInt64] = [0x8_0000_1000, 0x8_0000_2000, 0x8_0000_3000, 0x8_0000_4000]
    #expect(
      try dart1.activation(rootAddresses: roots).ttbrs == [
        0x8080_0001, 0x8080_0002, 0x8080_0003, 0x8080_0004,
      ])
    let dart2 = try AppleDARTFormat(version: .dart2, granule: .k16, inputBits: 36)
    let t8110 = try dart2.activation(rootAddresses: [0x10_0000_4000], layout: .t8110)
    // (2^36 + 2^14) >> 14 = 0x40_0001, << 2 = 0x100_0004, plus valid bit 0.
    #expect(t8110.ttbrs == [0x100_0005, 0, 0, 0])
    #expect(throws: PageTableError.misalignedPhysicalAddress(0x10_0000_1000)) {
      try dart2.activation(rootAddresses: [0x10_0000_1000], layout: .t8110)
    }
    #expect(throws: PageTableError.self) { try dart2.activation(rootAddresses: []) }
  }

  @Test func tablesActivateThroughTheirFormat() throws {
    let table = try PageTable(
      format: X86_64Format(levels: 4), memory: ImageTableMemory(base: 0x10_0000, byteCount: 1 << 16)
    )
    #expect(try table.activation(pcid: 2).cr3 == table.rootAddress() | 2)
    let dart = try PageTable(
      format: AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32),
      memory: ImageTableMemory(base: 0x8_0000_0000, byteCount: 1 << 16))
    let ttbrs = try dart.activation().ttbrs
    for i in 0..<4 { #expect(ttbrs[i] == 0x8000_0000 | dart.rootAddress(i) >> 12) }
  }
}
