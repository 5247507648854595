import Foundation
import Testing

/// Progress on long runs: `dump` and `diff` report their walk on standard error —
/// in place on a terminal, one line per 256 tables with `--progress` elsewhere,
/// nothing otherwise — and standard output stays the same either way.
@Suite("pgtable's progress on a dump of many GiB")
struct ProgressTests {
  /// A sparse 8 GiB raw dump whose x86-64 tables, at 6 GiB, map 1 GiB with 4 KiB
  /// pages (the physical address is not 2 MiB-aligned to the virtual one): 515
  /// tables, one run.
  static func sparseDump(_ files: Scratch) throws -> String {
    let spec = try files.write(
      "big.yaml",
      """
      format: x86-64
      base: 0x1_8000_0000
      regions:
        - { va: 0x4000_0000, pa: 0x1000_1000, size: 1G, protection: rw }
      """)
    let built = try Tool.run(["build", spec, "-o", files.path("tables.raw"), "--raw"])
    try #require(built.status == 0, "\(built.error)")
    let tables = try files.bytes("tables.raw")
    let path = files.path("ram.bin")
    #expect(FileManager.default.createFile(atPath: path, contents: nil))
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.truncate(atOffset: 8 << 30)
    try handle.seek(toOffset: 0x1_8000_0000)
    try handle.write(contentsOf: Data(tables))
    try handle.close()
    return path
  }

  static let walkArguments = ["--format", "x86-64", "--root", "0x1_8000_0000"]

  @Test("--progress writes a line per 256 tables and a last line to stderr; stdout is unchanged")
  func progressLinesWithTheFlag() throws {
    let files = try Scratch()
    let dump = try Self.sparseDump(files)
    let size = try FileManager.default.attributesOfItem(atPath: dump)[.size] as? Int
    #expect(size == 8 << 30)

    let plain = try Tool.run(["dump", dump] + Self.walkArguments)
    #expect(plain.status == 0, "\(plain.error)")
    #expect(plain.error.isEmpty, "no progress when stderr is not a terminal and none was asked for")
    #expect(plain.output.contains("1 runs, 1 GiB mapped, 515 tables"))

    let withProgress = try Tool.run(["dump", dump, "--progress"] + Self.walkArguments)
    #expect(withProgress.status == 0)
    #expect(withProgress.output == plain.output, "stdout is the same with --progress")
    let lines = withProgress.error.split(separator: "\n").map(String.init)
    #expect(
      lines == [
        "pgtable: walking: 256 tables (1 MiB), 1 runs, 0 findings, va 0x5f80_0000",
        "pgtable: walking: 512 tables (2 MiB), 1 runs, 0 findings, va 0x7f80_0000",
        "pgtable: walked: 515 tables (2060 KiB), 1 runs, 0 findings",
      ])

    let json = try Tool.run(["dump", dump, "--as", "json", "--progress"] + Self.walkArguments)
    #expect(try DumpJSON(json.output).runs.count == 1, "JSON on stdout stays parseable")
    #expect(json.error.split(separator: "\n").count == 3)

    let diff = try Tool.run(["diff", dump, dump, "--progress"] + Self.walkArguments)
    #expect(diff.status == 0)
    #expect(diff.output == "0 differences\n")
    #expect(
      diff.error.split(separator: "\n").filter { $0.hasPrefix("pgtable: walked: 515 tables") }
        .count == 2, "one walk per input")
  }

  @Test(
    "On a terminal the progress line is rewritten in place and cleared at the end",
    .enabled(if: Tool.find("script") != nil, "no script(1) to give pgtable a terminal"))
  func progressInPlaceOnATerminal() throws {
    let files = try Scratch()
    let dump = try Self.sparseDump(files)
    // script(1) runs pgtable on a pseudo-terminal; both streams end up in its output.
    let command = ([Tool.executable.path, "dump", dump] + Self.walkArguments).joined(
      separator: " ")
    let outcome = try Tool.run(
      program: try #require(Tool.find("script")), ["-qec", command, "/dev/null"])
    #expect(outcome.status == 0, "\(outcome.output)\(outcome.error)")
    let erase = "\r\u{1B}[K"
    #expect(outcome.output.contains(erase + "walking: 256 tables (1 MiB)"))
    #expect(outcome.output.contains(erase + "walked: 515 tables (2060 KiB)"))
    #expect(
      outcome.output.contains("515 tables (2060 KiB), 1 runs, 0 findings" + erase),
      "the line is cleared before the report")
    #expect(outcome.output.contains("1 runs, 1 GiB mapped, 515 tables"))
    #expect(!outcome.output.contains("pgtable: walking"), "no log lines on a terminal")
  }
}
