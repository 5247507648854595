import MMUModel
import PageTables
import Testing

/// Something to run over one format configuration (a generic body, since closures
/// cannot be generic).
protocol FormatBody {
  func run<Format: PageTableFormat>(_ format: Format, _ protections: [Protection]) throws
}

/// One configuration of a format family the model's tests run over.
struct ModelFamily: Sendable, CustomTestStringConvertible {
  let name: String
  let run: @Sendable (any FormatBody) throws -> Void

  init<Format: PageTableFormat>(
    _ name: String, _ protections: [Protection], _ make: @escaping @Sendable () throws -> Format
  ) {
    self.name = name
    self.run = { body in try body.run(try make(), protections) }
  }

  var testDescription: String { name }

  /// One configuration per family the issue names: ARM64 4K/16K/64K, x86-64 4/5
  /// levels, RISC-V Sv39/48/57, Apple UAT and DART.
  static var all: [ModelFamily] {
    let arm = [
      Protection.readWrite, .readOnly, Protection(write: true, user: true),
      Protection(execute: true, global: true),
    ]
    let x86 = [
      Protection.readWrite, .readOnly, Protection(execute: true, user: true),
      Protection(write: true, global: true),
    ]
    let riscv = [
      Protection.readWrite, .readOnly, Protection(read: false, execute: true, user: true),
      Protection(write: true, global: true),
    ]
    let uat = [
      Protection(write: true, user: true, memoryType: .uncached), Protection.readWrite,
      Protection(user: true, memoryType: .uncached),
    ]
    let dart = [Protection.readWrite, .readOnly, Protection(read: false, write: true)]
    return [
      ModelFamily("ARM64 4K 48-bit", arm) { try ARM64Format(granule: .k4, inputBits: 48) },
      ModelFamily("ARM64 16K 47-bit", arm) { try ARM64Format(granule: .k16, inputBits: 47) },
      ModelFamily("ARM64 64K 42-bit", arm) { try ARM64Format(granule: .k64, inputBits: 42) },
      ModelFamily("x86-64 4-level", x86) { try X86_64Format(levels: 4) },
      ModelFamily("x86-64 5-level", x86) { try X86_64Format(levels: 5) },
      ModelFamily("RISC-V Sv39", riscv) { RISCVFormat(.sv39) },
      ModelFamily("RISC-V Sv48", riscv) { RISCVFormat(.sv48) },
      ModelFamily("RISC-V Sv57", riscv) { RISCVFormat(.sv57) },
      ModelFamily("AppleUAT user", uat) { try AppleUATFormat(addressSpace: .user, outputBits: 40) },
      ModelFamily("AppleDART 2 16K 42-bit", dart) {
        try AppleDARTFormat(version: .dart2, granule: .k16, inputBits: 42)
      },
      ModelFamily("AppleDART 1 4K 32-bit (4 roots)", dart) {
        try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32)
      },
    ]
  }
}

/// An access `protection` allows: its kind and who makes it.
func allowedAccess(_ protection: Protection) -> (AccessKind, Privilege) {
  let privilege: Privilege = protection.user ? .user : .privileged
  if protection.read { return (.read, privilege) }
  if protection.write { return (.write, privilege) }
  return (.execute, privilege)
}
