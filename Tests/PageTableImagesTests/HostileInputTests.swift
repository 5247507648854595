import Foundation
import Testing

/// Dumps are hostile input: bad entries are findings with their address (exit 1),
/// the walk goes on, and nothing crashes, hangs or allocates what a file claims.
@Suite("pgtable on hostile input")
struct HostileInputTests {
  /// A built x86-64 image (root at 0x10_0000, file offset 4096) and its bytes.
  static func image(_ files: Scratch) throws -> [UInt8] {
    let path = try files.write("s.yaml", SpecCase.x86.yaml)
    #expect(try Tool.run(["build", path, "-o", files.path("good.img")]).status == 0)
    return try files.bytes("good.img")
  }

  /// File offset of entry `index` of the table at physical `table` (base 0x10_0000).
  static func offset(_ table: UInt64, _ index: Int) -> Int {
    4096 + Int(table - 0x10_0000) + 8 * index
  }

  static func dump(_ files: Scratch, _ bytes: [UInt8], _ extra: [String] = []) throws -> (
    Tool.Outcome, DumpJSON?
  ) {
    let path = try files.write("bad.img", bytes: bytes)
    let outcome = try Tool.run(["dump", path, "--as", "json"] + extra)
    return (outcome, try? DumpJSON(outcome.output))
  }

  static func messages(_ json: DumpJSON?) -> [(String, String)] {
    (json?.findings ?? []).map {
      ($0["entryAddress"] as? String ?? "", $0["message"] as? String ?? "")
    }
  }

  @Test("A table pointer outside the image is reported at its entry and the rest is walked")
  func pointerOutsideTheImage() throws {
    let files = try Scratch()
    var bytes = try Self.image(files)
    bytes.setWord(0x7FFF_F000 | 0x27, at: Self.offset(0x10_0000, 7))  // PML4[7] → far away
    let (outcome, json) = try Self.dump(files, bytes)
    #expect(outcome.status == 1)
    let findings = Self.messages(json)
    #expect(findings.count == 1)
    #expect(findings.first?.0 == "0x10_0038")
    #expect(findings.first?.1.contains("outside the image") == true)
    #expect(json?.merged.count == SpecCase.x86.regions.count, "the good mappings are still dumped")
  }

  @Test("A loop back to the root and a table reached twice are reported, not walked again")
  func loopsAndSharedTables() throws {
    let files = try Scratch()
    var bytes = try Self.image(files)
    let lowerTable = bytes.word(at: Self.offset(0x10_0000, 0))  // PML4[0] → the lower PDPT
    bytes.setWord(0x10_0000 | 0x27, at: Self.offset(0x10_0000, 5))  // PML4[5] → PML4
    bytes.setWord(lowerTable, at: Self.offset(0x10_0000, 6))  // PML4[6] → the same PDPT
    let (outcome, json) = try Self.dump(files, bytes)
    #expect(outcome.status == 1)
    let findings = Self.messages(json)
    #expect(findings.count == 2)
    #expect(findings.contains { $0.0 == "0x10_0028" && $0.1.contains("loop") })
    #expect(findings.contains { $0.0 == "0x10_0030" && $0.1.contains("reached twice") })
    #expect(json?.merged.count == SpecCase.x86.regions.count)
  }

  @Test("Reserved encodings are reported with the entry's address")
  func reservedEncodings() throws {
    let files = try Scratch()
    var bytes = try Self.image(files)
    bytes.setWord(0x20_0000 | 0x83, at: Self.offset(0x10_0000, 9))  // PS in a PML4E
    // Bit 48 set: reserved with a 40-bit MAXPHYADDR, a far address with 52 bits.
    bytes.setWord(0x1_0000_0000_0000 | 0x10_3027, at: Self.offset(0x10_0000, 10))
    let (outcome, json) = try Self.dump(files, bytes)
    #expect(outcome.status == 1)
    let findings = Self.messages(json)
    #expect(findings.contains { $0.0 == "0x10_0048" && $0.1.contains("PS set") })
    #expect(findings.contains { $0.0 == "0x10_0050" && $0.1.contains("outside the image") })
    let limited = try Tool.run([
      "dump", files.path("bad.img"), "--format", "x86-64:maxPhysicalAddressBits=40", "--as", "json",
    ])
    #expect(limited.status == 1)
    #expect(
      Self.messages(try? DumpJSON(limited.output)).contains {
        $0.0 == "0x10_0050" && $0.1.contains("MAXPHYADDR")
      })
  }

  @Test("A truncated image is read as far as it goes; a huge claimed size allocates nothing")
  func truncatedAndHugeImages() throws {
    let files = try Scratch()
    let bytes = try Self.image(files)
    let (cut, cutJSON) = try Self.dump(files, Array(bytes.prefix(4096 + 0x2800)))
    #expect(cut.status == 1)
    #expect(cut.output.contains("truncated"), "\(cut.output.prefix(400))")
    #expect(Self.messages(cutJSON).contains { $0.1.contains("outside the image") })
    var huge = bytes
    huge.setWord(1 << 62, at: 24)  // the header claims 4 EiB of tables
    let (big, bigJSON) = try Self.dump(files, huge)
    #expect(big.status == 1)
    #expect(big.output.contains("truncated"))
    #expect(bigJSON?.merged.count == SpecCase.x86.regions.count)
    let (header, _) = try Self.dump(files, Array(bytes.prefix(100)))
    #expect(header.status == 2)
    #expect(header.error.contains("truncated inside its 4096-byte header"))
  }

  @Test("Random bytes walked as tables end with findings, bounded, never a crash")
  func randomMemory() throws {
    let files = try Scratch()
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var bytes = [UInt8](repeating: 0, count: 1 << 18)
    for i in stride(from: 0, to: bytes.count, by: 8) {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      // Mostly pointers into the 256 KiB at 0, present, with random flag bits.
      let word =
        (state >> 11) & 0x3_F000 | (state >> 3) & 0x1FF | 1 | (state & 0x8000_0000_0000_0000)
      bytes.setWord(word, at: i)
    }
    let path = try files.write("random.bin", bytes: bytes)
    for format in [
      "x86-64", "x86-64:levels=5", "sv48", "arm64:granule=4k", "arm64:granule=64k", "uat", "dart",
    ] {
      let outcome = try Tool.run(["dump", path, "--format", format, "--root", "0x4000"])
      #expect(outcome.status == 1, "\(format): \(outcome.error)")
      let listed = outcome.output.split(separator: "\n").filter { $0.hasPrefix("finding: ") }.count
      #expect(listed > 0, "\(format)")
      #expect(listed <= 1000, "findings are capped")
    }
  }

  @Test("Corrupted ELF cores are refused or read around, never a crash")
  func corruptedCores() throws {
    let files = try Scratch()
    let bytes = try Self.image(files)
    var core = ELFCoreWriter()
    core.segments = [(0x10_0000, Array(bytes[4096...]))]
    core.addQEMUCPUState(cr3: 0x10_0000)
    let good = core.bytes()
    var state: UInt64 = 42
    for round in 0..<40 {
      var damaged = good
      for _ in 0..<(1 + round % 4) {
        state = state &* 6_364_136_223_846_793_005 &+ 1
        let at = Int((state >> 33) % UInt64(min(damaged.count, 64 + 56 * 2 + 600)))
        damaged[at] = UInt8(truncatingIfNeeded: state >> 20)
      }
      if round % 5 == 0 {
        damaged = Array(damaged.prefix(Int((state >> 40) % UInt64(damaged.count))))
      }
      let path = try files.write("damaged.core", bytes: damaged)
      let outcome = try Tool.run(["dump", path])
      #expect([0, 1, 2].contains(outcome.status), "round \(round): status \(outcome.status)")
    }
    var manyHeaders = good
    manyHeaders[56] = 0xFF
    manyHeaders[57] = 0xFE  // e_phnum 65279
    let path = try files.write("many.core", bytes: manyHeaders)
    let outcome = try Tool.run(["dump", path])
    #expect(outcome.status == 1)
    #expect(outcome.output.contains("claims 65279 program headers"))
  }
}
