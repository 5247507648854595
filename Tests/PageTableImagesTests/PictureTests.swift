import Foundation
import FoundationXML
import PageTableImages
import Testing

/// The SVG pictures `dump --as map` and `--as occupancy` draw: valid XML with the
/// expected elements, and rendered by librsvg to the right size with each mapped
/// run's colour where the layout put it.
@Suite("pgtable pictures")
struct PictureTests {
  static let renderer = Tool.find("rsvg-convert")

  /// Element names and `class` attributes of an SVG document (nil if it is not XML).
  final class Elements: NSObject, XMLParserDelegate {
    var names: [String] = []
    var classes: [String] = []
    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String] = [:]
    ) {
      names.append(name)
      if let value = attributes["class"] { classes.append(value) }
    }
  }

  static func elements(_ path: String) throws -> Elements? {
    let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: path)))
    let elements = Elements()
    parser.delegate = elements
    return parser.parse() ? elements : nil
  }

  @Test("rsvg-convert is installed wherever CI is set")
  func rendererInCI() {
    if Tool.inCI {
      #expect(
        Self.renderer != nil, "CI is set but rsvg-convert is missing: apt-get install librsvg2-bin")
    } else if Self.renderer == nil {
      print("rsvg-convert not installed: rendering checks skipped (apt-get install librsvg2-bin)")
    }
  }

  @Test(
    "The address-space map is valid SVG with a run per mapping, gaps, hover titles and a legend")
  func mapIsValidSVG() throws {
    let files = try Scratch()
    #expect(
      try Tool.run([
        "build", try files.write("s.yaml", SpecCase.x86.yaml), "-o", files.path("t.img"),
      ])
      .status == 0)
    let dump = try Tool.run([
      "dump", files.path("t.img"), "--as", "map", "-o", files.path("map.svg"),
    ])
    #expect(dump.status == 0, "\(dump.error)")
    let elements = try #require(try Self.elements(files.path("map.svg")), "not XML")
    #expect(elements.names.first == "svg")
    #expect(elements.classes.filter { $0 == "run" }.count >= SpecCase.x86.regions.count)
    #expect(elements.classes.filter { $0 == "gap" }.count == SpecCase.x86.regions.count - 1)
    #expect(elements.classes.contains("legend"))
    #expect(elements.names.filter { $0 == "title" }.count >= SpecCase.x86.regions.count)
  }

  @Test(
    "The rendered map has the picture's size and each run's colour where the layout drew it",
    .enabled(if: renderer != nil, "rsvg-convert not installed"))
  func mapRendersRunsWhereExpected() throws {
    let files = try Scratch()
    #expect(
      try Tool.run([
        "build", try files.write("s.yaml", SpecCase.x86.yaml), "-o", files.path("t.img"),
      ])
      .status == 0)
    #expect(
      try Tool.run(["dump", files.path("t.img"), "--as", "map", "-o", files.path("map.svg")]).status
        == 0)
    let render = try Tool.run(
      program: try #require(Self.renderer), [files.path("map.svg"), "-o", files.path("map.png")])
    #expect(render.status == 0, "\(render.error)")
    // The layout, computed in-process from the same image.
    let source = try DumpSource.open(path: files.path("t.img"))
    let map = AddressSpaceMap(runs: try TableWalker(source).walk().runs, title: "")
    let png = try files.bytes("map.png")
    let size = try #require(PNGPixels.size(png))
    #expect(size.width == map.width && size.height == map.height)
    let centres = map.placements.map { (Int($0.x + $0.width / 2), Int($0.y + $0.height / 2)) }
    let below = map.placements.map { (Int($0.x + $0.width / 2), Int($0.y + $0.height + 4)) }
    let colours = try PNGPixels.colors(files.path("map.png"), at: centres + below)
    #expect(colours.count == 2 * map.placements.count)
    for (index, placement) in map.placements.enumerated() {
      #expect(colours[index] == String(placement.color.hex.dropFirst()), "run \(placement.run)")
      #expect(
        colours[map.placements.count + index] == "ffffff", "background under run \(placement.run)")
    }
    // Four regions in four distinct colours (protection and page size differ).
    #expect(Set(colours.prefix(map.placements.count)).count == 4)
  }

  @Test(
    "The occupancy picture draws every table and what a compact layout would save",
    .enabled(if: renderer != nil, "rsvg-convert not installed"))
  func occupancyShowsTablesAndSavings() throws {
    let files = try Scratch()
    // Two 1 MiB regions that together fill an aligned 2 MiB: built as 4 KiB pages in
    // one page table, which a 2 MiB block would replace.
    let spec = """
      format: x86-64
      base: 0x10_0000
      regions:
        - { va: 0x20_0000, pa: 0x4000_0000, size: 1M, protection: rw }
        - { va: 0x30_0000, pa: 0x4010_0000, size: 1M, protection: rw }
      """
    #expect(
      try Tool.run(["build", try files.write("s.yaml", spec), "-o", files.path("t.img")]).status
        == 0)
    let dump = try Tool.run([
      "dump", files.path("t.img"), "--as", "occupancy", "-o", files.path("occupancy.svg"),
    ])
    #expect(dump.status == 0, "\(dump.error)")
    let elements = try #require(try Self.elements(files.path("occupancy.svg")), "not XML")
    #expect(elements.classes.filter { $0 == "table" }.count == 4)  // PML4, PDPT, PD, PT
    let text = try String(contentsOfFile: files.path("occupancy.svg"), encoding: .utf8)
    #expect(text.contains("4 tables, 16 KiB"))
    #expect(text.contains("needs 12 KiB: saves 4 KiB"), "\(text.prefix(800))")
    let render = try Tool.run(
      program: try #require(Self.renderer),
      [files.path("occupancy.svg"), "-o", files.path("occupancy.png")])
    #expect(render.status == 0)
    #expect(PNGPixels.size(try files.bytes("occupancy.png"))?.width == 1200)
  }
}
