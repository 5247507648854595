import PageTables

/// The register values that make hardware walk a table image: what `pgtable
/// build` prints after the root.
///
/// ```swift
/// for register in try ActivationRegisters.values(for: resolved, roots: image.roots) {
///   print(register.name, ValueText.hex(register.value))   // x86-64: … CR3 0x10_0000 …
/// }
/// ```
public enum ActivationRegisters {
  /// One register and the value to load.
  public struct Register: Hashable, Sendable {
    /// The register's architectural name.
    public var name: String
    /// The value to load.
    public var value: UInt64
    /// What the value assumes, or an empty string.
    public var note: String

    /// Makes one from its parts.
    public init(name: String, value: UInt64, note: String = "") {
      self.name = name
      self.value = value
      self.note = note
    }
  }

  /// The values for tables in `format` whose roots are at `roots`, from the
  /// formats' own activation encoders (ARM64 TTBR/TCR/MAIR or VTTBR/VTCR, x86-64
  /// CR3/CR4/EFER/CR0/PAT, RISC-V satp/menvcfg, the UAT TTBAT slot, the DART
  /// TTBRs), with ASID/PCID/VMID 0 (UAT: a user table in slot 1, a kernel table in
  /// slot 0's upper half).
  ///
  /// - Throws: ``ImageError/build(_:)`` when the format cannot point its
  ///   registers at these roots (a misaligned root, one too high for the register).
  public static func values(for format: ResolvedFormat, roots: [UInt64]) throws(ImageError)
    -> [Register]
  {
    guard let root = roots.first else { return [] }
    do {
      let registers: [RegisterValue]
      switch format {
      case .x86_64(let f):
        registers = try f.activation(rootAddress: root).registers
      case .riscv(let f):
        registers = try f.activation(rootAddress: root).registers
      case .arm64(let f):
        registers =
          f.stage == .one
          ? try f.stage1Activation(rootAddress: root).registers
          : try f.stage2Activation(rootAddress: root).registers
      case .uat(let f):
        registers =
          f.addressSpace == .user
          ? try AppleUATFormat.contextActivation(userRoot: root, asid: 1, kernelRoot: nil).registers
          : try AppleUATFormat.contextActivation(userRoot: nil, asid: 0, kernelRoot: root).registers
      case .dart(let f):
        registers = try f.activation(rootAddresses: roots).registers
      }
      return registers.map { Register(name: "\($0.name)", value: $0.value) }
    } catch {
      throw .build("no register values for these roots: \(error)")
    }
  }
}
