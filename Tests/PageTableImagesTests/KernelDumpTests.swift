import Foundation
import Testing

/// `pgtable dump` on a real operating system's page tables: Debian's Linux kernel
/// booted in qemu-system-x86_64 (it builds its tables, then panics for want of a
/// root file system), dumped with QEMU's `dump-guest-memory` by
/// `Scripts/kernel-dump.sh`.
///
/// Runs where a kernel (`/boot/vmlinuz-*`, `.build-kernel/boot/vmlinuz-*` or
/// `PGTABLE_KERNEL`) and QEMU are present; skipped with a message otherwise —
/// unless `CI` is set, where their absence fails.
@Suite("A real kernel's page tables", .serialized)
struct KernelDumpTests {
  static var kernel: String? {
    if let path = ProcessInfo.processInfo.environment["PGTABLE_KERNEL"],
      FileManager.default.isReadableFile(atPath: path)
    {
      return path
    }
    for folder in ["/boot", Tool.packageRoot.appendingPathComponent(".build-kernel/boot").path] {
      let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
      if let name = names.sorted().first(where: { $0.hasPrefix("vmlinuz-") }) {
        return folder + "/" + name
      }
    }
    return nil
  }

  static var present: Bool { kernel != nil && Tool.find("qemu-system-x86_64") != nil }

  @Test("A kernel and QEMU are present wherever CI is set")
  func kernelInCI() {
    if Tool.inCI {
      #expect(
        Self.present, "CI is set but the kernel or QEMU is missing: Scripts/kernel-dump.sh --fetch")
    } else if !Self.present {
      print(
        "no kernel or no qemu-system-x86_64: the real-kernel dump test is skipped (Scripts/kernel-dump.sh --fetch)"
      )
    }
  }

  @Test(
    "dump finds a booted Linux kernel's direct map and kernel text from CR3 in the core's notes",
    .enabled(if: present, "no kernel or no qemu-system-x86_64: skipped"))
  func dumpsARealKernel() throws {
    let files = try Scratch()
    let core = files.path("kernel.core")
    let script = Tool.packageRoot.appendingPathComponent("Scripts/kernel-dump.sh")
    let made = try Tool.run(program: URL(fileURLWithPath: "/bin/bash"), [script.path, core])
    try #require(made.status == 0, "\(made.output)\(made.error)")

    let dump = try Tool.run(["dump", core, "--as", "json"])
    #expect(dump.status == 0, "\(dump.error)")
    #expect(dump.output.contains("from the core's QEMU CPU note"))
    let json = try DumpJSON(dump.output)
    #expect(json.findings.isEmpty)
    func translation(_ va: UInt64) -> (pa: UInt64, protection: String)? {
      json.runs.first { $0.va <= va && va - $0.va < $0.size }.map {
        ($0.pa + (va - $0.va), $0.protection)
      }
    }
    // nokaslr: the direct map of all RAM at page_offset_base, the kernel image at
    // __START_KERNEL_map + 16 MiB, both global.
    let directMap = try #require(translation(0xFFFF_8880_0000_0000), "no direct map")
    #expect(directMap.pa == 0)
    #expect(directMap.protection.hasSuffix("g"))
    let deepInRAM = try #require(translation(0xFFFF_8880_0800_0000), "the direct map stops early")
    #expect(deepInRAM.pa == 0x800_0000)
    let text = try #require(translation(0xFFFF_FFFF_8100_0000), "no kernel text mapping")
    #expect(text.pa == 0x100_0000)
    #expect(text.protection.hasPrefix("r") && text.protection.contains("x"))
    #expect(
      json.runs.allSatisfy { $0.va >= 0xFFFF_8000_0000_0000 }, "init_mm maps no user addresses")

    let translate = try Tool.run(["translate", core, "0xffffffff81000000"])
    #expect(translate.status == 0)
    #expect(translate.output.contains("-> 0x100_0000"))
    #expect(try Tool.run(["diff", core, core]).status == 0)
  }
}
