import PageTables

/// The register values that make hardware walk a table image: what `pgtable
/// build` prints after the root.
///
/// ```swift
/// for register in ActivationRegisters.values(for: resolved, roots: image.roots) {
///   print(register.name, register.value)      // "CR3" 0x10_0000
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

    public init(name: String, value: UInt64, note: String = "") {
      self.name = name
      self.value = value
      self.note = note
    }
  }

  /// The values for tables in `format` whose roots are at `roots`, from the
  /// formats' own register encoders. A format that has none yet gets none (the
  /// root alone is printed).
  public static func values(for format: ResolvedFormat, roots: [UInt64]) -> [Register] {
    guard let root = roots.first else { return [] }
    switch format {
    case .x86_64(let f):
      guard let cr3 = try? f.cr3(rootAddress: root) else { return [] }
      return [Register(name: "CR3", value: cr3, note: "PCID 0")]
    case .riscv(let f):
      guard let satp = try? f.satp(rootAddress: root) else { return [] }
      return [Register(name: "satp", value: satp, note: "ASID 0")]
    case .arm64(let f):
      return f.stage == .one
        ? [
          Register(
            name: "MAIR_EL1", value: ARM64Format.mair, note: "attr 0 normal WB, 1 device, 2 NC")
        ]
        : []
    case .uat, .dart:
      return []
    }
  }
}
