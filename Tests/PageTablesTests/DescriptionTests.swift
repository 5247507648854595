import PageTables
import Testing

/// Translations, runs, protections and errors print readably without Foundation:
/// hex addresses grouped by four digits, sizes in binary units, permissions as flags.
@Suite struct DescriptionTests {
  @Test(arguments: [
    (UInt64(0), "0x0"), (0x1234, "0x1234"), (0x2_0000, "0x2_0000"),
    (0x8020_1234, "0x8020_1234"), (0xffff_8000_0000_0000, "0xffff_8000_0000_0000"),
  ])
  func addressesPrintInGroupedHex(value: UInt64, text: String) {
    #expect(ValueText.hex(value) == text)
  }

  @Test(arguments: [
    (UInt64(24), "24 B"), (0x1000, "4 KiB"), (0x1800, "6 KiB"), (0x18_0000, "1536 KiB"),
    (0x20_0000, "2 MiB"), (1 << 30, "1 GiB"), (1 << 40, "1 TiB"), (0, "0 B"),
  ])
  func sizesPrintInTheLargestUnitThatDividesThem(bytes: UInt64, text: String) {
    #expect(ValueText.size(bytes) == text)
  }

  @Test func protectionsPrintAsFlags() {
    #expect("\(Protection.readWrite)" == "rw-")
    #expect("\(Protection.readOnly)" == "r--")
    #expect("\(Protection(execute: true, user: true))" == "r-x user")
    #expect(
      "\(Protection(read: false, write: true, global: true, memoryType: .device))"
        == "-w- global device")
    #expect("\(Protection(memoryType: .uncached))" == "r-- uncached")
    #expect(
      "\(Protection(write: true, softwareBits: 5, attributeIndex: 6, accessed: false))"
        == "rw- os=0x5 attr=6 not-accessed")
  }

  @Test func translationsAndRunsNameAddressSizeAndPermissions() throws {
    let table = try PageTable(
      format: ARM64Format(granule: .k4, inputBits: 48),
      memory: ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20))
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x20_0000,
      protection: .readWrite)
    let translation = try #require(table.translate(0x20_1234))
    #expect("\(translation)" == "0x8020_1234 (2 MiB leaf at level 2, rw-)")
    #expect(table.dump().map(\.description) == ["0x20_0000..0x40_0000 -> 0x8020_0000 (2 MiB, rw-)"])
    try unmapAndFlush(table, 0x20_0000, 0x20_0000)
  }

  @Test func errorsQuoteTheirAddressesInHexAndProtectionsAsFlags() {
    #expect(
      PageTableError.misalignedVirtualAddress(0x20_1000).description
        == "virtual address 0x20_1000 is not aligned to the format's page size")
    #expect(
      PageTableError.misalignedSize(0x1800).description
        == "size 0x1800 (6 KiB) is not a multiple of the format's page size")
    #expect(
      PageTableError.unsupportedProtection(Protection(read: false, write: true)).description
        == "the format cannot express protection -w-")
  }
}
