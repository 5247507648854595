import Foundation
import PageTables
import Testing

@testable import PageTablesTools

/// The QEMU conformance suite: the library's tables against real MMU emulation.
///
/// Runs when `qemu-system-aarch64`, `-riscv64` and `-x86_64` are installed
/// (`Scripts/install-qemu.sh`); otherwise it is skipped and says so — unless the
/// environment variable `CI` is set, where a missing QEMU fails.
@Suite("QEMU conformance", .serialized)
struct ConformanceTests {
  static let missing = ConformanceSuite.missingQEMU()
  static var qemuInstalled: Bool { missing.isEmpty }

  @Test("QEMU is installed wherever CI is set")
  func qemuInstalledInCI() {
    if ProcessInfo.processInfo.environment["CI"] != nil {
      #expect(
        Self.missing.isEmpty,
        "CI is set but QEMU is missing (\(Self.missing)): run Scripts/install-qemu.sh")
    } else if !Self.qemuInstalled {
      print(
        "QEMU not installed: conformance skipped (missing \(Self.missing.joined(separator: ", ")))")
    }
  }

  @Test(
    "Every configuration translates on QEMU as the library's translate says, host-built and guest-built",
    .enabled(if: qemuInstalled, "QEMU not installed: conformance skipped"))
  func qemuAgreesWithTranslate() throws {
    let summary = try ConformanceSuite.run(ConformanceOptions()) { print($0) }
    print(summary.report)
    #expect(summary.configurations >= 29)
    #expect(summary.addresses > 10_000)
    #expect(summary.mismatches == 0)
    #expect(summary.passed, "\(summary.report)")
    // Every run mapped pages with OS bits (the hardware ignored them: no mismatch);
    // ARM64 stage 1 and x86-64 runs mapped every attribute index they take, and
    // x86-64 and RISC-V runs left the access flag to the hardware.
    for result in summary.results {
      #expect(result.softwareBitProtections > 0, "\(result.name) \(result.way)")
      if result.name.hasPrefix("ARM64 s1") || result.name.hasPrefix("x86") {
        #expect(result.indexedProtections > 0, "\(result.name) \(result.way)")
      }
      if !result.name.hasPrefix("ARM64") {
        #expect(result.unaccessedProtections > 0, "\(result.name) \(result.way)")
      }
      // Host-built runs changed ranges in place with `protect` before the hardware
      // probed them (the guest engine has no protect step).
      if result.way == .hostBuilt {
        #expect(result.protects > 0, "\(result.name) \(result.way)")
      }
    }
  }

  @Test(
    "Attribute indices are checked: a MAIR that does not describe them is caught",
    .enabled(if: qemuInstalled, "QEMU not installed: conformance skipped"))
  func mairWithoutTheIndicesIsCaught() throws {
    let original = ConformanceConfiguration.arm64Stage1(granule: .k4, inputBits: 48, outputBits: 48)
    // The guest loads the plan's MAIR (register 1): give it the standard one, whose
    // attributes 3–7 are all Device-nGnRnE, not the ones the mappings were made for.
    let result = try Self.run(original, altered: "ARM64 standard MAIR", seed: 3) { run in
      run.plan.registers[1] = ARM64Format.MemoryAttributes.standard.value
    }
    #expect(!result.mismatches.isEmpty)
    // Only pages with a chosen index other than 6 (Device-nGnRnE in both MAIRs) differ.
    for mismatch in result.mismatches {
      let index = mismatch.translation?.protection.attributeIndex
      #expect(index != nil && index != 6, "\(mismatch)")
    }
  }

  @Test(
    "A table image with corrupted leaf addresses is caught by the suite",
    .enabled(if: qemuInstalled, "QEMU not installed: conformance skipped"))
  func corruptedImageIsCaught() throws {
    let original = ConformanceConfiguration.riscv(.sv39, way: .hostBuilt)
    // Every RISC-V leaf (V and one of R/W/X) gets PPN bit 9 flipped: +2 MiB.
    let result = try Self.run(original, altered: "RISC-V Sv39 corrupted", seed: 7) { run in
      var image = run.image ?? []
      for offset in stride(from: 0, to: image.count - 7, by: 8) {
        var word: UInt64 = 0
        for byte in 0..<8 { word |= UInt64(image[offset + byte]) << UInt64(8 * byte) }
        guard word & 1 != 0, word & 0b1110 != 0 else { continue }
        word ^= 1 << 19
        for byte in 0..<8 {
          image[offset + byte] = UInt8(truncatingIfNeeded: word >> UInt64(8 * byte))
        }
      }
      run.image = image
    }
    #expect(result.failures.count == 1, "only the pointer to the run files: \(result.failures)")
    #expect(result.mismatches.count > 100)
  }

  /// Runs `original` once with its prepared run changed by `alter`, after building
  /// the guest for its machine.
  static func run(
    _ original: ConformanceConfiguration, altered name: String, seed: UInt64,
    alter: @escaping @Sendable (inout PreparedRun) -> Void
  ) throws -> ConformanceResult {
    let altered = ConformanceConfiguration(
      name: name, machine: original.machine, way: original.way, probing: original.probing
    ) { seed in
      var run = try original.prepare(seed)
      alter(&run)
      return run
    }
    let build = try ProcessRunner.run(
      "/bin/sh",
      [
        ConformanceSuite.defaultPackageRoot.path + "/Examples/BareMetal/build.sh",
        original.machine.architecture.rawValue,
      ],
      timeout: 600)
    #expect(build.status == 0, "\(build.output)")
    return ConformanceSuite.runOne(altered, seed: seed, options: ConformanceOptions())
  }
}
