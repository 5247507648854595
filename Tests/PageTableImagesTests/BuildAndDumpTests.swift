import Foundation
import Testing

/// `pgtable build` and `pgtable dump`, run as a user runs them.
@Suite("pgtable build and dump")
struct BuildAndDumpTests {
  @Test("dump recovers exactly the regions build mapped, in every format", arguments: SpecCase.all)
  func dumpRecoversTheSpec(_ spec: SpecCase) throws {
    let files = try Scratch()
    let specPath = try files.write("spec.yaml", spec.yaml)
    let build = try Tool.run(["build", specPath, "-o", files.path("tables.img")])
    #expect(build.status == 0, "\(build.error)")
    #expect(build.output.contains("root 0x"), "\(build.output)")
    let dump = try Tool.run(["dump", files.path("tables.img"), "--as", "json"])
    #expect(dump.status == 0, "\(dump.error)")
    let parsed = try DumpJSON(dump.output)
    let expected = spec.regions.map {
      DumpJSON.Run(
        va: $0.va, pa: $0.pa, size: $0.size, protection: dumpLetters($0.protection),
        memory: $0.memory,
        level: 0)
    }
    #expect(parsed.merged == expected)
    #expect(parsed.findings.isEmpty)
  }

  @Test("The same spec gives the same bytes, from YAML and from JSON")
  func buildIsDeterministic() throws {
    let files = try Scratch()
    for spec in SpecCase.all {
      let yaml = try files.write("spec.yaml", spec.yaml)
      let json = try files.write("spec.json", spec.json)
      #expect(try Tool.run(["build", yaml, "-o", files.path("a.img")]).status == 0)
      #expect(try Tool.run(["build", yaml, "-o", files.path("b.img")]).status == 0)
      let fromJSON = try Tool.run(["build", json, "-o", files.path("c.img")])
      #expect(fromJSON.status == 0, "\(fromJSON.error)")
      let a = try files.bytes("a.img")
      #expect(a == (try files.bytes("b.img")), "\(spec.name)")
      #expect(a == (try files.bytes("c.img")), "\(spec.name)")
      #expect(a.count > 4096)
    }
  }

  @Test("build prints the root and the register values to load")
  func buildPrintsRegisters() throws {
    let files = try Scratch()
    let x86 = try Tool.run([
      "build", try files.write("x.yaml", SpecCase.x86.yaml), "-o", files.path("x.img"),
    ])
    #expect(x86.output.contains("root 0x10_0000"), "\(x86.output)")
    #expect(x86.output.contains("CR3 0x10_0000"), "\(x86.output)")
    let riscv = try Tool.run([
      "build", try files.write("r.yaml", SpecCase.all[4].yaml), "-o", files.path("r.img"),
    ])
    // satp: MODE 8 (Sv39) in bits 63:60, the root's page number below.
    #expect(riscv.output.contains("satp 0x8000_0000_0008_0400"), "\(riscv.output)")
  }

  @Test("A raw table image dumps the same at its base with --format and --root")
  func rawImageWithBase() throws {
    let files = try Scratch()
    let spec = SpecCase.all[2]  // arm64 4K at 0x4010_0000
    let build = try Tool.run([
      "build", try files.write("s.yaml", spec.yaml), "-o", files.path("raw.bin"), "--raw",
    ])
    #expect(build.status == 0)
    let root = try #require(build.output.split(separator: "\n").first { $0.hasPrefix("root ") })
      .dropFirst(5)
    let dump = try Tool.run([
      "dump", files.path("raw.bin"), "--base", "0x4010_0000", "--format", "arm64:granule=4k",
      "--root", String(root), "--as", "json",
    ])
    #expect(dump.status == 0, "\(dump.error)")
    #expect(try DumpJSON(dump.output).merged.count == spec.regions.count)
    let noRoot = try Tool.run(["dump", files.path("raw.bin"), "--format", "arm64"])
    #expect(noRoot.status == 2)
    #expect(noRoot.error.contains("--root"))
  }

  @Test(
    "A spec error names the file, line and field, and exits 2",
    arguments: [
      (
        "format: x86-64\nbase: 0x10_0000\nregions:\n  - { va: 0x1000, pa: 0, size: 2X, protection: rw }\n",
        "spec.yaml:4: regions[0].size"
      ),
      (
        "format: x86-64\nbase: 0x10_0000\nregions:\n  - va: 0x1000\n    pa: 0\n    size: 4K\n    protection: rwq\n",
        "spec.yaml:7: regions[0].protection"
      ),
      ("format: x86-64\nbase: 0x10_0000\ncolour: blue\nregions: []\n", "spec.yaml:3: colour"),
      ("format: sparc\nbase: 0\nregions: []\n", "spec.yaml:1: format"),
      (
        "format: arm64\nconfiguration:\n  granule: 8k\nbase: 0\nregions: []\n",
        "spec.yaml:3: configuration"
      ),
      ("format: x86-64\nregions: []\n", "base: missing"),
      (
        "format: x86-64\nbase: 0x10_0000\nregions:\n  - { va: 0x1000, pa: 0 }\n",
        "regions[0].size: missing"
      ),
      ("format: x86-64\nbase: [\n", "spec.yaml:3: (syntax)"),
      (
        "format: x86-64\nbase: 0x10_0000\nregions:\n  - { va: 0x1001, pa: 0, size: 4K, protection: rw }\n",
        "regions[0] (line 4)"
      ),
    ])
  func specErrorsNameLineAndField(_ text: String, _ expected: String) throws {
    let files = try Scratch()
    let path = try files.write("spec.yaml", text)
    let result = try Tool.run(["build", path, "-o", files.path("out.img")], in: files.url)
    #expect(result.status == 2)
    #expect(result.error.contains(expected), "\(result.error)")
    #expect(!FileManager.default.fileExists(atPath: files.path("out.img")))
  }

  @Test("A JSON spec error names its line too")
  func jsonSpecErrorsNameTheLine() throws {
    let files = try Scratch()
    var spec = SpecCase.x86
    spec.regions[1].protection = "rwz"
    let result = try Tool.run([
      "build", try files.write("spec.json", spec.json), "-o", files.path("o"),
    ])
    #expect(result.status == 2)
    #expect(result.error.contains("spec.json:5: regions[1].protection"), "\(result.error)")
  }

  @Test("Usage errors exit 2 and say why")
  func usageErrors() throws {
    #expect(try Tool.run(["dump"]).status == 2)
    #expect(try Tool.run(["dump", "x", "--as", "pdf"]).status == 2)
    #expect(try Tool.run(["build", "spec.yaml"]).status == 2)
    #expect(try Tool.run(["dump", "/nonexistent/file"]).status == 2)
    let badFormat = try Tool.run(["dump", "/dev/null", "--format", "vax", "--root", "0"])
    #expect(badFormat.status == 2)
    #expect(badFormat.error.contains("unknown format"))
  }
}
