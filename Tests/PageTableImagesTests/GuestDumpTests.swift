import Foundation
import PageTableImages
import PageTables
import PageTablesTools
import Testing

/// `pgtable dump` on the memory a bare-metal guest leaves in QEMU: the guest's own
/// engine builds its tables (maps, unmaps with its TLB instructions, translation
/// on), halts, and QEMU's monitor dumps its RAM; `dump` must recover exactly the
/// mappings the guest's plan leaves (worked out from the plan's steps, not by the
/// engine).
///
/// Runs where the machines' QEMU binaries are installed; skipped with a message
/// otherwise — unless `CI` is set, where a missing QEMU fails.
@Suite("Dumps of bare-metal guests' memory")
struct GuestDumpTests {
  /// One guest and how its memory is dumped.
  struct Case: Sendable, CustomTestStringConvertible {
    var architecture: GuestMachine.Architecture
    var kind: GuestMemoryDump.FileKind
    /// A guest-engine configuration's full name; nil for the machine's default one.
    var configuration: String? = nil
    var testDescription: String {
      "\(configuration ?? architecture.rawValue), \(kind.rawValue)"
    }

    func resolved() throws -> ConformanceConfiguration {
      guard let configuration else { return GuestMemoryDump.configuration(for: architecture) }
      return try #require(ConformanceConfiguration.all.first { $0.fullName == configuration })
    }
  }

  /// x86-64 as ELF cores (CR3, and CR4's LA57 for five levels, from QEMU's note),
  /// aarch64 as an ELF core with `--root`, riscv64 as raw RAM with `--base` and
  /// `--root`.
  static let cases = [
    Case(architecture: .x86_64, kind: .elfCore),
    Case(architecture: .x86_64, kind: .elfCore, configuration: "x86-64 5-level guest engine"),
    Case(architecture: .aarch64, kind: .elfCore), Case(architecture: .riscv64, kind: .raw),
  ]

  static let missing = cases.map { "qemu-system-\($0.architecture.rawValue)" }
    .filter { Tool.find($0) == nil }

  @Test("QEMU is installed wherever CI is set")
  func qemuInstalledInCI() {
    if Tool.inCI {
      #expect(
        Self.missing.isEmpty,
        "CI is set but QEMU is missing (\(Self.missing)): run Scripts/install-qemu.sh")
    } else if !Self.missing.isEmpty {
      print(
        "QEMU not installed: the guest-dump tests are skipped (missing \(Self.missing.joined(separator: ", ")))"
      )
    }
  }

  @Test(
    "dump recovers exactly the mappings the guest's engine built, from QEMU's dump of its RAM",
    .enabled(if: missing.isEmpty, "QEMU not installed: guest dumps skipped"),
    arguments: cases)
  func dumpRecoversTheGuestsMappings(_ guest: Case) throws {
    let files = try Scratch()
    let dump = try GuestMemoryDump.make(
      try guest.resolved(), file: guest.kind, seed: 1, directory: files.url)
    let attributes = try FileManager.default.attributesOfItem(atPath: dump.file.path)
    let size = UInt64((attributes[.size] as? Int) ?? 0)
    // Raw: exactly the RAM asked for. ELF: that RAM less x86's legacy hole below
    // 1 MiB (not RAM, so not in the core), plus headers and notes.
    #expect(guest.kind == .raw ? size == dump.byteCount : size + (1 << 20) > dump.byteCount)

    var arguments = ["dump", dump.file.path, "--as", "json"]
    if guest.architecture != .x86_64 {
      arguments += ["--format", dump.format, "--root", "0x" + String(dump.root, radix: 16)]
    }
    if guest.kind == .raw { arguments += ["--base", "0x" + String(dump.base, radix: 16)] }
    let outcome = try Tool.run(arguments)
    #expect(outcome.status == 0, "\(outcome.error)\n\(dump.uart)")
    let json = try DumpJSON(outcome.output)
    #expect(json.findings.isEmpty, "\(json.findings)")
    #expect(json.roots.map(DumpJSON.number) == [dump.root], "the root the guest printed")
    if guest.architecture == .x86_64 {
      #expect(outcome.output.contains("from the core's QEMU CPU note"), "CR3 from the notes")
      #expect(outcome.output.contains("\"format\" : \"\(dump.format)\""), "levels from CR4")
    }

    let expected = Self.merged(dump.expected)
    let found = json.merged
    #expect(expected.count > 10, "the plan mapped something to look for")
    #expect(found == expected, "\(Self.difference(expected, found))")
  }

  @Test("A plan's mappings left are its maps less its unmaps (GuestPlan.mappingsLeft's example)")
  func mappingsLeftCutsTheUnmaps() {
    var plan = GuestPlan(mode: .engine)
    plan.add(.map, 0x4000_0000, 0x8000_0000, 0x20_0000, GuestPlan.bits(.readWrite))
    plan.add(.unmap, 0x4000_1000, 0x1000)
    let left = plan.mappingsLeft()
    #expect(
      left == [
        MappingRun(
          virtualAddress: 0x4000_0000, physicalAddress: 0x8000_0000, size: 0x1000,
          protection: .readWrite),
        MappingRun(
          virtualAddress: 0x4000_2000, physicalAddress: 0x8000_2000, size: 0x20_0000 - 0x2000,
          protection: .readWrite),
      ])
    // An identity map, a whole mapping unmapped without invalidation, and the
    // steps that change no mapping.
    plan.add(.identityMap, 0x1000, 0x1000, 0x3000, GuestPlan.bits(.readOnly))
    plan.add(.unmapWithoutInvalidation, 0x4000_0000, 0x1000)
    plan.add(.activate)
    plan.add(.haltForDump)
    #expect(plan.mappingsLeft().map(\.virtualAddress) == [0x1000, 0x4000_2000])
  }

  /// The plan's mappings as `dump --as json` prints them, merged as ``DumpJSON/merged`` merges.
  static func merged(_ runs: [MappingRun]) -> [DumpJSON.Run] {
    var result: [DumpJSON.Run] = []
    for run in runs {
      let next = DumpJSON.Run(
        va: run.virtualAddress, pa: run.physicalAddress, size: run.size,
        protection: DumpReport.letters(run.protection), memory: "\(run.protection.memoryType)",
        level: 0)
      if var last = result.last, last.va &+ last.size == next.va, last.pa &+ last.size == next.pa,
        last.protection == next.protection, last.memory == next.memory
      {
        last.size += next.size
        result[result.count - 1] = last
      } else {
        result.append(next)
      }
    }
    return result
  }

  /// The runs only one side has, for the failure message.
  static func difference(_ expected: [DumpJSON.Run], _ found: [DumpJSON.Run]) -> String {
    let missing = expected.filter { !found.contains($0) }.prefix(10)
    let extra = found.filter { !expected.contains($0) }.prefix(10)
    return "missing: \(missing.map(\.description)) extra: \(extra.map(\.description))"
  }
}
