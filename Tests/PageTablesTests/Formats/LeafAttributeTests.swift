import PageTables
import Testing

/// Software bits, chosen memory-attribute indices and the accessed-flag policy,
/// encoded bit for bit as each primary document places them, decoded back, and
/// refused where the format cannot express them.
@Suite struct LeafAttributeTests {
  /// Write, OS bits, attribute index 5, access flag left to the hardware.
  static let tagged = Protection(
    write: true, softwareBits: 0b1010, attributeIndex: 5, accessed: false)

  func entry<Format: PageTableFormat>(_ format: Format, _ protection: Protection, level: Int)
    throws -> UInt64
  {
    format.leafEntry(
      template: try format.leafTemplate(for: protection, level: level), physicalAddress: 0,
      level: level)
  }

  @Test func arm64Stage1() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    // Page (3) | valid, AttrIndx 5 << 2, SH inner 3 << 8, no AF, nG, PXN, UXN, and
    // software bits 0b1010 in [58:55].
    let expected: UInt64 =
      0x0500_0000_0000_0000 | 0x0060_0000_0000_0000 | 0x800 | 0x300 | 0x14 | 0x3
    #expect(try entry(format, Self.tagged, level: 3) == expected)
    #expect(format.protection(of: expected, level: 3) == Self.tagged)
    // Hardware setting AF shows as accessed.
    #expect(format.protection(of: expected | 1 << 10, level: 3).accessed)
    // An index that is a built-in type's reads back as that type.
    let device = try entry(format, Protection(attributeIndex: 1), level: 3)
    #expect(format.protection(of: device, level: 3) == Protection(memoryType: .device))
    for refused in [Protection(softwareBits: 0x10), Protection(attributeIndex: 8)] {
      #expect(throws: PageTableError.unsupportedProtection(refused)) {
        try format.leafTemplate(for: refused, level: 3)
      }
    }
  }

  @Test func arm64Stage2() throws {
    let format = try ARM64Format(granule: .k4, stage: .two, inputBits: 40, outputBits: 40)
    let deviceNGnRnE = Protection(write: true, attributeIndex: 0)
    let bits = try entry(format, deviceNGnRnE, level: 2)
    #expect(bits >> 2 & 0xF == 0)  // MemAttr 0b0000
    #expect(bits & 1 << 10 != 0)  // AF
    #expect(
      format.protection(of: bits, level: 2)
        == Protection(write: true, memoryType: .device, attributeIndex: 0))
    let software = try entry(format, Protection(softwareBits: 0xF), level: 2)
    #expect(software >> 55 & 0xF == 0xF)
    // MemAttr 0b0100, 0b1000, 0b1100 are reserved Normal encodings; 16 does not fit.
    for index: UInt8 in [4, 8, 12, 16] {
      let refused = Protection(attributeIndex: index)
      #expect(throws: PageTableError.unsupportedProtection(refused)) {
        try format.leafTemplate(for: refused, level: 2)
      }
    }
  }

  @Test func x86() throws {
    let format = try X86_64Format(levels: 4)
    let all = Protection(write: true, softwareBits: 0x3FF, attributeIndex: 5, accessed: false)
    // PTE: P, R/W, PWT (index bit 0), PAT bit 7 (index bit 2), no A, ignored bits
    // 9–11 and 52–58 all set, XD.
    let pte: UInt64 = 0x8000_0000_0000_0000 | 0x07F0_0000_0000_0000 | 0xE00 | 0x80 | 0x8 | 0x3
    #expect(try entry(format, all, level: 3) == pte)
    #expect(format.protection(of: pte, level: 3) == all)
    // PDE (2 MiB): PS at bit 7, PAT at bit 12.
    let pde = try entry(format, all, level: 2)
    #expect(pde == pte | 0x1000)
    #expect(format.protection(of: pde, level: 2) == all)
    // Software bit 3 is entry bit 52.
    #expect(try entry(format, Protection(softwareBits: 0b1000), level: 3) & 1 << 52 != 0)
    // PAT index 3 is UC in the power-on layout: the built-in device type.
    let uc = try entry(format, Protection(attributeIndex: 3), level: 3)
    #expect(format.protection(of: uc, level: 3) == Protection(memoryType: .device))
    for refused in [Protection(softwareBits: 0x400), Protection(attributeIndex: 8)] {
      #expect(throws: PageTableError.unsupportedProtection(refused)) {
        try format.leafTemplate(for: refused, level: 3)
      }
    }
  }

  @Test func riscv() throws {
    let format = RISCVFormat(.sv39, svpbmt: true)
    let nc = Protection(write: true, softwareBits: 0b11, attributeIndex: 1, accessed: false)
    // V, R, W, RSW 0b11 in [9:8], no A, PBMT 1 (NC) in [62:61].
    let bits: UInt64 = 0x2000_0000_0000_0000 | 0x300 | 0x7
    #expect(try entry(format, nc, level: 2) == bits)
    #expect(
      format.protection(of: bits, level: 2)
        == Protection(write: true, memoryType: .uncached, softwareBits: 0b11, accessed: false))
    #expect(throws: PageTableError.self) {
      try format.leafTemplate(for: Protection(attributeIndex: 3), level: 2)
    }
    #expect(throws: PageTableError.self) {
      try format.leafTemplate(for: Protection(softwareBits: 0b100), level: 2)
    }
    #expect(throws: PageTableError.self) {
      try RISCVFormat(.sv39).leafTemplate(for: Protection(attributeIndex: 1), level: 2)
    }
  }

  @Test func appleUATTakesAnIndexButNoSoftwareBitsAndAlwaysSetsAF() throws {
    let format = try AppleUATFormat(addressSpace: .user)
    let indexed = Protection(write: true, user: true, memoryType: .device, attributeIndex: 4)
    let bits = try entry(format, indexed, level: 2)
    #expect(bits >> 2 & 0b111 == 4)
    #expect(format.protection(of: bits, level: 2) == indexed)
    for refused in [
      Protection(user: true, softwareBits: 1), Protection(user: true, accessed: false),
      Protection(user: true, attributeIndex: 8),
    ] {
      #expect(throws: PageTableError.unsupportedProtection(refused)) {
        try format.leafTemplate(for: refused, level: 2)
      }
    }
  }

  @Test func appleDARTRefusesEveryExtraAttribute() throws {
    let format = try AppleDARTFormat(version: .dart2, granule: .k16, inputBits: 36)
    for refused in [
      Protection(softwareBits: 1), Protection(attributeIndex: 0), Protection(accessed: false),
    ] {
      #expect(throws: PageTableError.unsupportedProtection(refused)) {
        try format.leafTemplate(for: refused, level: 1)
      }
    }
    #expect(format.protection(of: try entry(format, .readWrite, level: 1), level: 1).accessed)
  }

  @Test func translateAndDumpReportTheAttributes() throws {
    let table = try PageTable(
      format: ARM64Format(granule: .k4, inputBits: 48),
      memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20),
      options: PageTableOptions(leakReporter: { _ in }))
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8000_0000, size: 0x20_0000,
      protection: Self.tagged)
    #expect(table.translate(0x20_1000)?.protection == Self.tagged)
    #expect(table.dump().map(\.protection) == [Self.tagged])
  }
}
