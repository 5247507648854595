import Foundation
import PageTableImages
import PageTables
import Testing

/// Every ```swift example in the doc comments of Sources/PageTableImages, run as
/// written. File names in the examples ("guest.core", "tables.img", ...) become paths
/// in a scratch folder; everything else is the example's text.
@Suite struct DocCommentExampleTests {
  /// The spec text the examples presuppose: x86-64, tables at 0x10_0000, 1 GiB mapped.
  static let text = """
    format: x86-64
    base: 0x10_0000
    regions:
      - { va: 0xffff_8000_0000_0000, pa: 0, size: 1G, protection: rwg }
    """

  static func spec(_ text: String = text) throws -> MappingSpec {
    try MappingSpec.parse(text, name: "boot.yaml")
  }

  /// `spec` built and written as a `.img` file in `files`; returns its path.
  static func imageFile(_ files: Scratch, _ text: String = text, name: String = "tables.img")
    throws -> String
  {
    let image = try TableBuilder.build(try spec(text))
    return try files.write(name, bytes: image.serialized())
  }

  /// A QEMU-style x86-64 core holding the spec's tables at 0x10_0000, CR3 in a note.
  static func coreFile(_ files: Scratch) throws -> String {
    let image = try TableBuilder.build(try spec())
    var core = ELFCoreWriter()
    core.segments = [(0, [UInt8](repeating: 0, count: 0x10_0000)), (0x10_0000, image.bytes)]
    core.addQEMUCPUState(cr3: 0x10_0000)
    return try files.write("guest.core", bytes: core.bytes())
  }

  @Test func imageError() throws {
    // Sources/PageTableImages/ImageError.swift — ImageError
    let text = """
      format: x86-64
      base: 0x10_0000
      regions:
        - { va: 0xffff_8000_0000_0000, pa: 0, size: 1G, protection: rwg }
        - va: 0xffff_8000_4000_0000
          pa: 0x4000_0000
          size: 2X
      """
    var printed = ""
    do { _ = try MappingSpec.parse(text, name: "boot.yaml") } catch {
      print(error)  // boot.yaml:7: regions[1].size: not a size: "2X"
      printed = "\(error)"
    }
    #expect(printed == #"boot.yaml:7: regions[1].size: not a size: "2X""#)
  }

  @Test func elfCore() throws {
    // Sources/PageTableImages/Inputs/ELFCore.swift — ELFCore
    let files = try Scratch()
    let path = try Self.coreFile(files)
    let core = try ELFCore(url: URL(fileURLWithPath: path))
    #expect(core.memory.segments.count == 2)  // one per RAM range
    #expect(core.qemuCPUStates.first?.cr3 == 0x10_0000)  // x86-64 guests: where the walk starts
  }

  @Test func physicalImage() throws {
    // Sources/PageTableImages/Inputs/PhysicalImage.swift — PhysicalImage
    let files = try Scratch()
    var bytes = [UInt8](repeating: 0, count: 0x10_0008)
    bytes.setWord(0x1234_5678_9abc_def0, at: 0x10_0000)
    let url = URL(fileURLWithPath: try files.write("ram.bin", bytes: bytes))
    let image = try PhysicalImage(rawFile: url, base: 0x4000_0000)
    #expect(image.word(at: 0x4010_0000) == 0x1234_5678_9abc_def0)  // the 64-bit entry there, or nil
    #expect(image.word(at: 0x4010_0008) == nil)
  }

  @Test func dumpSource() throws {
    // Sources/PageTableImages/Inputs/DumpSource.swift — DumpSource
    let files = try Scratch()
    let path = try Self.coreFile(files)
    let source = try DumpSource.open(path: path)  // CR3 from QEMU's notes
    let result = try TableWalker(source).walk()
    #expect(source.roots == [0x10_0000])
    #expect(result.runs.reduce(0) { $0 + $1.size } == 1 << 30)
  }

  @Test func tableWalker() throws {
    // Sources/PageTableImages/Walk/TableWalker.swift — TableWalker
    let files = try Scratch()
    let path = try Self.imageFile(files)
    let source = try DumpSource.open(path: path)
    let result = try TableWalker(source).walk()
    for run in result.runs { print(ValueText.hex(run.virtualAddress), run.size) }
    for finding in result.findings { print(finding) }  // bad entries, with addresses
    #expect(result.runs.first?.virtualAddress == 0xffff_8000_0000_0000)
    #expect(result.findings.isEmpty)
  }

  @Test func mappingDiff() throws {
    // Sources/PageTableImages/Walk/MappingDiff.swift — MappingDiff
    let files = try Scratch()
    let before = try TableWalker(try DumpSource.open(path: try Self.imageFile(files))).walk()
    let changed = Self.text.replacingOccurrences(of: "rwg", with: "rg")
    let after = try TableWalker(
      try DumpSource.open(path: try Self.imageFile(files, changed, name: "after.img"))
    ).walk()
    let differences = MappingDiff.compare(before.runs, after.runs)
    for difference in differences { print(difference) }
    #expect(differences.count == 1)
    #expect(differences.first?.virtualAddress == 0xffff_8000_0000_0000)
    #expect(MappingDiff.compare(before.runs, before.runs).isEmpty)
  }

  @Test func translationTrace() throws {
    // Sources/PageTableImages/Walk/TranslationTrace.swift — TranslationTrace
    let files = try Scratch()
    let source = try DumpSource.open(path: try Self.imageFile(files))
    let trace = try TableWalker(source).translate(0xffff_8000_0000_1234)
    for line in trace.lines { print(line) }
    if case .mapped(let physical, _, _, _) = trace.outcome { print(physical) }
    guard case .mapped(let physical, _, _, _) = trace.outcome else {
      Issue.record("not mapped: \(trace.lines)")
      return
    }
    #expect(physical == 0x1234)
  }

  @Test func resolvedFormat() throws {
    // Sources/PageTableImages/Formats/ResolvedFormat.swift — ResolvedFormat
    let resolved = try FormatDescriptor(parsing: "x86-64").resolve()
    #expect(resolved.format.geometry.levels.count == 4)  // 4
  }

  @Test func activationRegisters() throws {
    // Sources/PageTableImages/Formats/ActivationRegisters.swift — ActivationRegisters
    let resolved = try FormatDescriptor(parsing: "x86-64").resolve()
    let image = try TableBuilder.build(try Self.spec())
    var seen: [(String, UInt64)] = []
    for register in try ActivationRegisters.values(for: resolved, roots: image.roots) {
      print(register.name, ValueText.hex(register.value))  // x86-64: … CR3 0x10_0000 …
      seen.append((register.name, register.value))
    }
    #expect(seen.contains { $0.0 == "CR3" && $0.1 == 0x10_0000 })
  }

  @Test func formatDescriptor() throws {
    // Sources/PageTableImages/Formats/FormatDescriptor.swift — FormatDescriptor
    let descriptor = try FormatDescriptor(parsing: "arm64:granule=16k,inputBits=47")
    let format = try descriptor.resolve()  // an ARM64Format
    #expect(descriptor.text == "arm64:granule=16k,inputBits=47")
    guard case .arm64 = format else {
      Issue.record("not ARM64: \(format)")
      return
    }
  }

  @Test func tableImage() throws {
    // Sources/PageTableImages/Image/TableImage.swift — TableImage
    let files = try Scratch()
    let spec = try Self.spec()
    let url = URL(fileURLWithPath: files.path("boot.img"))
    let image = try TableBuilder.build(spec)
    try Data(image.serialized()).write(to: url)  // header + table bytes
    let back = try TableImage(parsing: Array(Data(contentsOf: url)))
    #expect(back == image)
    #expect(try Data(contentsOf: url).count == TableImage.headerBytes + image.bytes.count)
  }

  @Test func tableBuilder() throws {
    // Sources/PageTableImages/Image/TableBuilder.swift — TableBuilder
    let text = Self.text
    let spec = try MappingSpec.parse(text, name: "boot.yaml")
    let image = try TableBuilder.build(spec)
    #expect(image.roots[0] == 0x10_0000)  // the root table's physical address
  }

  @Test func occupancyPicture() throws {
    // Sources/PageTableImages/Pictures/OccupancyPicture.swift — OccupancyPicture
    let files = try Scratch()
    let source = try DumpSource.open(path: try Self.imageFile(files))
    let result = try TableWalker(source).walk()
    let picture = OccupancyPicture(result: result, source: source)
    try Terminal.write(picture.svg(), to: files.path("tables.svg"))
    #expect(try Terminal.readText(files.path("tables.svg")).contains("<svg"))
  }

  @Test func compactLayout() throws {
    // Sources/PageTableImages/Pictures/CompactLayout.swift — CompactLayout
    let files = try Scratch()
    let source = try DumpSource.open(path: try Self.imageFile(files))
    let result = try TableWalker(source).walk()
    let resolved = try source.format.resolve()
    let compact = try CompactLayout.tableBytes(for: result.runs, format: resolved)
    print(result.tableBytes - compact)  // bytes a rebuild would save
    #expect(compact > 0)
    #expect(result.tableBytes - compact == 0)
  }

  @Test func addressSpaceMap() throws {
    // Sources/PageTableImages/Pictures/AddressSpaceMap.swift — AddressSpaceMap
    let files = try Scratch()
    let source = try DumpSource.open(path: try Self.imageFile(files))
    let result = try TableWalker(source).walk()
    let map = AddressSpaceMap(runs: result.runs, title: "boot.img")
    try Terminal.write(map.svg(), to: files.path("map.svg"))
    #expect(map.placements[0].run == 0)  // where run 0 is drawn, for checking a rendering
    #expect(try Terminal.readText(files.path("map.svg")).contains("<svg"))
  }

  @Test func dumpReport() throws {
    // Sources/PageTableImages/Output/DumpReport.swift — DumpReport
    let files = try Scratch()
    let source = try DumpSource.open(path: try Self.imageFile(files))
    let result = try TableWalker(source).walk()
    for line in DumpReport.table(result, source: source) { print(line) }
    let json = DumpReport.json(result, source: source)  // sorted keys, stable bytes
    #expect(json == DumpReport.json(result, source: source))
    #expect(!DumpReport.table(result, source: source).isEmpty)
  }

  @Test func buildReport() throws {
    // Sources/PageTableImages/Output/BuildReport.swift — BuildReport
    let spec = try Self.spec()
    let image = try TableBuilder.build(spec)
    for line in try BuildReport.lines(image) { print(line) }
    // format x86-64, 8192 bytes of tables at 0x10_0000
    // root 0x10_0000
    // … then the registers to load, CR3 0x10_0000 among them
    let lines = try BuildReport.lines(image)
    #expect(
      Array(lines.prefix(2)) == [
        "format x86-64, 8192 bytes of tables at 0x10_0000", "root 0x10_0000",
      ])
    #expect(lines.dropFirst(2).contains("CR3 0x10_0000"))
  }

  @Test func terminal() throws {
    // Sources/PageTableImages/Output/Terminal.swift — Terminal
    // The example's second line, exit(Terminal.ExitStatus.findings.rawValue), would end
    // the test process; only the value it passes is checked.
    Terminal.error("cannot read dump.bin")  // pgtable: cannot read dump.bin
    #expect(Terminal.ExitStatus.findings.rawValue == 1)
  }

  @Test func progressReporter() throws {
    // Sources/PageTableImages/Output/ProgressReporter.swift — ProgressReporter
    let files = try Scratch()
    let source = try DumpSource.open(path: try Self.imageFile(files))
    let reporter = ProgressReporter(style: ProgressReporter.style(requested: false))
    let result = try TableWalker(source).walk { reporter.report($0.line) }
    reporter.finish()  // clears a terminal's line
    #expect(result.runs.count == 1)
    // The tests' standard error is not a terminal: no progress unless asked for.
    #expect(ProgressReporter.style(requested: false, errorIsTerminal: false) == .off)
    #expect(ProgressReporter.style(requested: true, errorIsTerminal: false) == .lines)
    #expect(ProgressReporter.style(requested: false, errorIsTerminal: true) == .overwrite)
  }

  @Test func walkProgress() throws {
    // Sources/PageTableImages/Walk/WalkResult.swift — WalkProgress
    let files = try Scratch()
    let source = try DumpSource.open(path: try Self.imageFile(files))
    var lines: [String] = []
    let result = try TableWalker(source).walk { progress in
      print(progress.line)  // every 256 tables, then once at the end:
      lines.append(progress.line)
    }
    // Two tables (a PML4 and a PDPT with one 1 GiB page): only the end is reported.
    #expect(result.tables.count == 2)
    #expect(lines == ["walked: 2 tables (8 KiB), 1 runs, 0 findings"])
  }
}
