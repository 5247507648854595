import Foundation
import PageTables

/// One of the QEMU machines the conformance suite runs its guests on, with the
/// memory layout the guest program (`Examples/BareMetal/<arch>`) is linked for.
///
/// The layout is shared with the guest's `Machine.swift` and linker script: the
/// program, then the host's plan at ``planAddress``, prebuilt tables at
/// ``imageBase``, the guest engine's table memory at ``engineTableBase``, and a
/// pool of RAM (``targetPool``) that test mappings point into, where the guest
/// writes tags that loads read back to check the physical address.
public struct GuestMachine: Hashable, Sendable {
  /// The CPU architecture, as `Examples/BareMetal` names it.
  public enum Architecture: String, Hashable, Sendable, CaseIterable {
    /// ARM64 (`qemu-system-aarch64 -M virt`).
    case aarch64
    /// RISC-V 64 (`qemu-system-riscv64 -M virt`).
    case riscv64
    /// x86-64 (`qemu-system-x86_64`).
    case x86_64
  }

  /// The CPU architecture, which names the guest program and the QEMU binary.
  public let architecture: Architecture
  /// Where the host's plan is loaded.
  public let planAddress: UInt64
  /// Where prebuilt tables are loaded (the image's physical base).
  public let imageBase: UInt64
  /// Bytes reserved for prebuilt tables.
  public let imageBytes: Int
  /// Where the guest's engine keeps its tables.
  public let engineTableBase: UInt64
  /// Bytes of the guest's table memory.
  public let engineTableBytes: UInt64
  /// RAM that test mappings may point into and the guest may tag.
  public let targetPool: Range<UInt64>
  /// Identity mappings the guest needs to keep running with its MMU on
  /// (start, size, protection).
  public let identityRegions: [MappingRun]
  /// Virtual addresses test mappings stay away from (the identity map's range).
  public let reservedVirtual: Range<UInt64>

  /// The QEMU binary.
  public var qemuBinary: String { "qemu-system-\(architecture.rawValue)" }

  /// Where the machine's RAM starts: 0x4000_0000 on aarch64 `virt`, 0x8000_0000 on
  /// riscv64 `virt`, 0 on x86-64 `pc`.
  public var ramStart: UInt64 {
    switch architecture {
    case .aarch64: 0x4000_0000
    case .riscv64: 0x8000_0000
    case .x86_64: 0
    }
  }

  /// The guest program `Examples/BareMetal/build.sh` made in `packageRoot`
  /// (x86-64 boots the flat Multiboot binary, the others the ELF file).
  func guestProgram(packageRoot: URL) -> URL {
    packageRoot.appendingPathComponent(".build-guest/\(architecture.rawValue)")
      .appendingPathComponent(architecture == .x86_64 ? "guest.bin" : "guest.elf")
  }

  /// Kernel RWX, normal memory.
  static var kernelCode: Protection { Protection(read: true, write: true, execute: true) }
  /// Kernel RW device memory.
  static var kernelDevice: Protection { Protection(read: true, write: true, memoryType: .device) }

  /// QEMU `virt` with `-cpu max` and 3 GiB of RAM at 0x4000_0000; PL011 at
  /// 0x0900_0000.
  public static let aarch64 = GuestMachine(
    architecture: .aarch64, planAddress: 0x4100_0000, imageBase: 0x4200_0000,
    imageBytes: 32 << 20, engineTableBase: 0x4400_0000, engineTableBytes: 32 << 20,
    targetPool: 0x8000_0000..<0x1_0000_0000,
    identityRegions: [
      MappingRun(
        virtualAddress: 0x4000_0000, physicalAddress: 0x4000_0000, size: 0x4000_0000,
        protection: kernelCode),
      MappingRun(
        virtualAddress: 0x0900_0000, physicalAddress: 0x0900_0000, size: 0x1_0000,
        protection: kernelDevice),
    ], reservedVirtual: 0..<0x1_0000_0000)

  /// QEMU `virt` with `-bios none` and 4 GiB of RAM at 0x8000_0000; NS16550 at
  /// 0x1000_0000.
  public static let riscv64 = GuestMachine(
    architecture: .riscv64, planAddress: 0x8100_0000, imageBase: 0x8200_0000,
    imageBytes: 32 << 20, engineTableBase: 0x8400_0000, engineTableBytes: 32 << 20,
    targetPool: 0xC000_0000..<0x1_8000_0000,
    identityRegions: [
      MappingRun(
        virtualAddress: 0x8000_0000, physicalAddress: 0x8000_0000, size: 0x4000_0000,
        protection: kernelCode),
      MappingRun(
        virtualAddress: 0x1000_0000, physicalAddress: 0x1000_0000, size: 0x1000,
        protection: Protection(read: true, write: true)),
    ], reservedVirtual: 0..<0x2_0000_0000)

  /// QEMU `pc` with `-cpu max` and 3 GiB of RAM at 0; COM1 and isa-debug-exit are
  /// I/O ports, so only RAM is identity mapped.
  public static let x86_64 = GuestMachine(
    architecture: .x86_64, planAddress: 0x100_0000, imageBase: 0x200_0000,
    imageBytes: 32 << 20, engineTableBase: 0x400_0000, engineTableBytes: 32 << 20,
    targetPool: 0x4000_0000..<0xC000_0000,
    identityRegions: [
      MappingRun(
        virtualAddress: 0, physicalAddress: 0, size: 0x4000_0000, protection: kernelCode)
    ], reservedVirtual: 0..<0x1_0000_0000)

  /// The QEMU command line (after the binary) for a run.
  /// - Parameters:
  ///   - hypervisor: start an aarch64 guest at EL2 (`virtualization=on`).
  func qemuArguments(
    guest: String, plan: String, image: String?, output: String, hypervisor: Bool
  ) -> [String] {
    var arguments: [String]
    switch architecture {
    case .aarch64:
      arguments = [
        "-M", hypervisor ? "virt,virtualization=on" : "virt", "-cpu", "max", "-m", "3G",
        "-semihosting", "-kernel", guest,
      ]
    case .riscv64:
      arguments = [
        "-M", "virt", "-bios", "none", "-cpu", "rv64,svnapot=on,svpbmt=on", "-m", "4G",
        "-kernel", guest,
      ]
    case .x86_64:
      arguments = [
        "-M", "pc", "-cpu", "max", "-m", "3G", "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", guest,
      ]
    }
    arguments += [
      "-display", "none", "-monitor", "none", "-serial", "file:\(output)", "-no-reboot",
      "-device", "loader,file=\(plan),addr=\(planAddress),force-raw=on",
    ]
    if let image {
      arguments += ["-device", "loader,file=\(image),addr=\(imageBase),force-raw=on"]
    }
    return arguments
  }

  /// The guest's own exit status from QEMU's (x86's isa-debug-exit reports
  /// `status << 1 | 1`).
  func guestStatus(fromQEMUStatus status: Int32) -> Int32 {
    architecture == .x86_64 ? (status & 1 == 1 ? status >> 1 : -1) : status
  }
}
