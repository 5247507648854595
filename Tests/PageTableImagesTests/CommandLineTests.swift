import Foundation
import Testing

/// What scripts rely on, for every subcommand: `--help` with an example, and the
/// exit codes the README documents (0 ok, 1 findings, 2 usage or input errors).
@Suite("pgtable's help and exit codes")
struct CommandLineTests {
  /// The subcommands `pgtable --help` lists.
  static func subcommands() throws -> [String] {
    let help = try Tool.run(["--help"])
    let listing = try #require(help.output.components(separatedBy: "SUBCOMMANDS:").last)
    return listing.split(separator: "\n").compactMap { line in
      // A subcommand's line is indented by two spaces; its wrapped abstract by more.
      guard line.hasPrefix("  "), !line.hasPrefix("   "),
        let first = line.split(separator: " ").first,
        first.allSatisfy({ $0.isLowercase })
      else { return nil }
      return String(first)
    }
  }

  @Test("Every subcommand's help shows an example of it, as `help NAME` and `NAME --help`")
  func everySubcommandHasAnExample() throws {
    let names = try Self.subcommands()
    #expect(
      Set(names)
        == ["demo", "conformance", "build", "dump", "translate", "diff", "bench", "replay"])
    for name in names {
      for arguments in [["help", name], [name, "--help"]] {
        let help = try Tool.run(arguments)
        let words = help.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.status == 0, "\(arguments)")
        #expect(help.output.contains("Example"), "\(arguments) has no example")
        #expect(
          help.output.split(separator: "\n").contains { $0.hasPrefix("  pgtable \(name)") },
          "\(arguments): the example runs pgtable \(name)")
        #expect(words.contains("Exit status"), "\(arguments) documents its exit codes")
      }
    }
  }

  @Test("Each subcommand exits 0 when all is well, 1 on findings, 2 on usage or input errors")
  func exitCodes() throws {
    let files = try Scratch()
    let spec = try files.write("s.yaml", SpecCase.x86.yaml)
    let image = files.path("a.img")
    #expect(try Tool.run(["build", spec, "-o", image]).status == 0)
    var changed = SpecCase.x86
    changed.regions.removeLast()
    let other = files.path("b.img")
    #expect(
      try Tool.run(["build", try files.write("c.yaml", changed.yaml), "-o", other]).status == 0)
    var bytes = try files.bytes("a.img")
    bytes.setWord(0x7FFF_F000 | 0x27, at: 4096 + 7 * 8)  // PML4[7] points outside the image
    let damaged = try files.write("bad.img", bytes: bytes)
    let badSpec = try files.write("bad.yaml", "format: x86-64\nbase: 0x10_0000\nregions: [1]\n")
    let cleanTrace = try files.write(
      "clean.jsonl",
      """
      {"format": "arm64-4k", "asid": 1}
      {"op": "map", "va": "0x200000", "pa": "0x80200000", "size": "0x1000", "prot": "rw"}
      {"op": "access", "va": "0x200010"}
      {"op": "check"}
      """)
    let trace = Tool.packageRoot.appendingPathComponent(
      "Examples/Traces/unmap-without-invalidation.jsonl"
    ).path
    let cases: [(arguments: [String], status: Int32)] = [
      (["--version"], 0), (["bogus"], 2), (["help", "bogus"], 2), (["dump", "--bogus"], 2),
      (["build", spec, "-o", files.path("again.img")], 0), (["build", badSpec, "-o", "x"], 2),
      (["build", "/nonexistent.yaml", "-o", "x"], 2), (["build", spec], 2),
      (["dump", image], 0), (["dump", damaged], 1), (["dump", "/nonexistent"], 2),
      (["dump", image, "--as", "pdf"], 2), (["dump", image, "--root", "zz"], 2),
      (["translate", image, "0xffff800000001234"], 0), (["translate", image, "0x1000"], 1),
      (["translate", image, "zz"], 2), (["translate", image], 2),
      (["diff", image, image], 0), (["diff", image, other], 1),
      (["diff", image, "/nonexistent"], 2),
      (["bench", "--pages", "16"], 0), (["bench", "--pages", "0"], 2),
      (["replay", cleanTrace], 0), (["replay", trace], 1), (["replay", "/nonexistent"], 2),
      (["conformance", "--filter", "no such machine"], 2), (["demo"], 0),
    ]
    for (arguments, status) in cases {
      let outcome = try Tool.run(arguments)
      #expect(
        outcome.status == status, "pgtable \(arguments.joined(separator: " ")): \(outcome.error)")
      if status == 2 {
        #expect(!outcome.error.isEmpty, "pgtable \(arguments): a usage or input error says why")
      }
    }
  }
}
