import Foundation
import Testing

/// ELF cores as QEMU writes them, `translate` and `diff`.
@Suite("pgtable on cores, translate and diff")
struct CoreAndTranslateTests {
  /// An x86-64 image's tables placed in a two-segment core, with CR3 in a QEMU note.
  static func core(_ files: Scratch, truncate: Int = 0) throws -> String {
    #expect(
      try Tool.run([
        "build", try files.write("s.yaml", SpecCase.x86.yaml), "-o", files.path("t.img"),
      ])
      .status == 0)
    let tables = Array(try files.bytes("t.img")[4096...])
    var core = ELFCoreWriter()
    core.segments = [(0, [UInt8](repeating: 0, count: 0x10_0000)), (0x10_0000, tables)]
    core.addQEMUCPUState(cr3: 0x10_0000, cr4: 0x20)
    let bytes = core.bytes()
    return try files.write("guest.core", bytes: Array(bytes.prefix(bytes.count - truncate)))
  }

  @Test("An ELF core's PT_LOAD segments and QEMU CPU note give the memory, format and root")
  func qemuCoreGivesRootAndFormat() throws {
    let files = try Scratch()
    let outcome = try Tool.run(["dump", try Self.core(files), "--as", "json"])
    #expect(outcome.status == 0, "\(outcome.error)")
    #expect(outcome.output.contains("CR3 0x10_0000"))
    let expected = SpecCase.x86.regions.map {
      DumpJSON.Run(
        va: $0.va, pa: $0.pa, size: $0.size, protection: dumpLetters($0.protection),
        memory: $0.memory,
        level: 0)
    }
    #expect(try DumpJSON(outcome.output).merged == expected)
  }

  @Test(
    "Without a QEMU note, a vmcore's VMCOREINFO gives the kernel's root (init_top_pgt, phys_base)")
  func vmcoreInfoGivesTheRoot() throws {
    let files = try Scratch()
    #expect(
      try Tool.run([
        "build", try files.write("s.yaml", SpecCase.x86.yaml), "-o", files.path("t.img"),
      ])
      .status == 0)
    var core = ELFCoreWriter()
    // The kernel loaded 64 KiB above where it was linked: the tables at 0x10_0000
    // are at the symbol 0xffff_ffff_800f_0000 less __START_KERNEL_map, plus phys_base.
    core.segments = [(0x10_0000, Array(try files.bytes("t.img")[4096...]))]
    let info = "OSRELEASE=6.1.0\nSYMBOL(init_top_pgt)=ffffffff800f0000\nNUMBER(phys_base)=65536\n"
    core.notes.append(("VMCOREINFO", 0, Array(info.utf8)))
    let outcome = try Tool.run([
      "dump", try files.write("vmcore", bytes: core.bytes()), "--as", "json",
    ])
    #expect(outcome.status == 0, "\(outcome.error)")
    #expect(outcome.output.contains("init_top_pgt and phys_base from the core's VMCOREINFO"))
    #expect(try DumpJSON(outcome.output).merged.count == SpecCase.x86.regions.count)
    var bare = ELFCoreWriter()
    bare.segments = core.segments
    let refused = try Tool.run(["dump", try files.write("bare.core", bytes: bare.bytes())])
    #expect(refused.status == 2)
    #expect(refused.error.contains("give --format and --root"))
  }

  @Test(
    "An arm64 vmcore's VMCOREINFO gives swapper_pg_dir's address, the granule and VA_BITS (TTBR1)"
  )
  func arm64VMCoreInfoGivesTheRoot() throws {
    let files = try Scratch()
    // The kernel's half: 16 KiB pages, 47-bit addresses, tables at 0x4010_0000.
    let spec = try #require(SpecCase.all.first { $0.name == "arm64 16K TTBR1" })
    #expect(
      try Tool.run(["build", try files.write("s.yaml", spec.yaml), "-o", files.path("t.img")])
        .status == 0)
    var core = ELFCoreWriter()
    core.machine = 183
    core.segments = [(0x4010_0000, Array(try files.bytes("t.img")[4096...]))]
    // swapper_pg_dir's link address less kimage_voffset is its physical address.
    let info =
      "OSRELEASE=6.1.0\nPAGESIZE=16384\nSYMBOL(swapper_pg_dir)=ffff800009e40000\n"
      + "NUMBER(kimage_voffset)=0xffff7fffc9d40000\nNUMBER(VA_BITS)=47\n"
    core.notes.append(("VMCOREINFO", 0, Array(info.utf8)))
    let outcome = try Tool.run([
      "dump", try files.write("vmcore", bytes: core.bytes()), "--as", "json",
    ])
    #expect(outcome.status == 0, "\(outcome.error)")
    #expect(outcome.output.contains("swapper_pg_dir and kimage_voffset from the core's VMCOREINFO"))
    #expect(outcome.output.contains("arm64:base=ttbr1,granule=16k,inputBits=47"))
    let json = try DumpJSON(outcome.output)
    #expect(json.roots == ["0x4010_0000"])
    let expected = spec.regions.map {
      DumpJSON.Run(
        va: $0.va, pa: $0.pa, size: $0.size, protection: dumpLetters($0.protection),
        memory: $0.memory, level: 0)
    }
    #expect(json.merged == expected)
  }

  @Test("A core cut short is reported (exit 1) and read as far as it goes")
  func truncatedCore() throws {
    let files = try Scratch()
    let outcome = try Tool.run(["dump", try Self.core(files, truncate: 0x1000)])
    #expect(outcome.status == 1)
    #expect(outcome.output.contains("truncated"))
    #expect(outcome.output.contains("finding:"))
  }

  @Test("translate prints each level's entry and ends in the address or the fault")
  func translateWalksLevelByLevel() throws {
    let files = try Scratch()
    let core = try Self.core(files)
    let mapped = try Tool.run(["translate", core, "0xffff800000001234", "0x400123"])
    #expect(mapped.status == 0, "\(mapped.error)")
    #expect(mapped.output.contains("level 0 entry 256 at 0x10_0800"))
    #expect(mapped.output.contains("-> 0x1234 (1 GiB page"))
    #expect(mapped.output.contains("-> 0x20_0123 (2 MiB page"))
    let faults = try Tool.run(["translate", core, "0x1234", "0x8000000000000000"])
    #expect(faults.status == 1)
    #expect(faults.output.contains("translation fault at level 2: the entry is empty"))
    #expect(faults.output.contains("outside the format's windows"))
    #expect(try Tool.run(["translate", core, "nonsense"]).status == 2)
  }

  @Test("diff prints the ranges that differ and exits 1, or 0 for the same mappings")
  func diffFindsChangedRanges() throws {
    let files = try Scratch()
    var changed = SpecCase.x86
    changed.regions[1].pa = 0xFEC0_0000
    changed.regions[2].size = 32 << 10
    let a = try files.write("a.yaml", SpecCase.x86.yaml)
    let b = try files.write("b.yaml", changed.yaml)
    #expect(try Tool.run(["build", a, "-o", files.path("a.img")]).status == 0)
    #expect(try Tool.run(["build", b, "-o", files.path("b.img")]).status == 0)
    let diff = try Tool.run(["diff", files.path("a.img"), files.path("b.img")])
    #expect(diff.status == 1)
    #expect(
      diff.output.contains(
        "~ 0x7000_0000 4 KiB: 0xfee0_0000 rw--- device | 0xfec0_0000 rw--- device"))
    #expect(diff.output.contains("- 0x8000_8000 32 KiB: 0x100_8000 rw-u- normal | unmapped"))
    #expect(diff.output.contains("2 differences"))
    // The same mappings from a core and from the image: no differences.
    let same = try Tool.run(["diff", files.path("a.img"), try Self.core(files)])
    #expect(same.status == 0, "\(same.output)")
  }
}

/// `pgtable bench`, whose report lives in PageTablesTools.
@Suite("pgtable bench")
struct BenchTests {
  @Test("bench reports every format's per-operation times, and refuses a bad page count")
  func benchReportsEveryFormat() throws {
    let outcome = try Tool.run(["bench", "--pages", "64"])
    #expect(outcome.status == 0, "\(outcome.error)")
    let rows = outcome.output.split(separator: "\n").dropFirst(2)
    #expect(rows.count == 9)
    for row in rows {
      #expect(row.split(separator: " ").filter { $0 == "ns" }.count == 4, "\(row)")
    }
    #expect(try Tool.run(["bench", "--pages", "0"]).status == 2)
  }
}
