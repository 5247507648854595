import Foundation
import PageTableImages
import Testing

/// The DocC catalog's example, line for line.
@Suite struct PageTableImagesDocumentationTests {
  @Test func theCatalogExampleRunsAsWritten() throws {
    let spec = try MappingSpec.parse(
      """
      format: x86-64
      base: 0x10_0000
      regions:
        - { va: 0xffff_8000_0000_0000, pa: 0, size: 1G, protection: rwg }
      """, name: "boot.yaml")
    let image = try TableBuilder.build(spec)  // root at 0x10_0000
    #expect(image.roots == [0x10_0000])
    let path = NSTemporaryDirectory() + "/boot-\(UUID().uuidString).img"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Terminal.write(image.serialized(), to: path)

    let source = try DumpSource.open(path: path)  // format and root from the header
    let result = try TableWalker(source).walk()
    #expect(result.runs[0].size == 1 << 30)  // 1 GiB
    let svg = AddressSpaceMap(runs: result.runs, title: "boot.img").svg()
    #expect(svg.contains("<svg"))
  }
}
