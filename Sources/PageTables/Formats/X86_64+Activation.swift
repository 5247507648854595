/// The register values that make an x86-64 CPU walk tables of an ``X86_64Format``.
///
/// ```swift
/// let format = try X86_64Format(levels: 5)
/// let activation = try format.activation(rootAddress: table.rootAddress(), pcid: 3)
/// // wrmsr IA32_PAT, activation.pat; wrmsr IA32_EFER |= activation.efer
/// // mov cr4 |= activation.cr4 (LA57 only while paging is off); mov cr3, activation.cr3
/// // mov cr0 |= activation.cr0
/// ```
///
/// Bits from the Intel SDM, volume 3A: section 2.5 "Control Registers" (CR0.PE [0],
/// CR0.WP [16], CR0.PG [31]; CR4.PAE [5], CR4.PGE [7], CR4.LA57 [12], CR4.PCIDE
/// [17]), 2.2.1 "Extended Feature Enable Register" (IA32_EFER MSR C000_0080H: LME
/// [8], NXE [11]), 4.5 "4-Level Paging and 5-Level Paging" (CR3: the root in
/// [MAXPHYADDR-1:12], the PCID in [11:0] with CR4.PCIDE = 1) and 12.12 "Page
/// Attribute Table" (IA32_PAT MSR 277H). `cr4`, `efer` and `cr0` are the bits to
/// set (OR them in): the rest of those registers is the system's.
///
/// Order: CR4.LA57 can only change while paging is off; CR4.PCIDE can only be set
/// while CR3[11:0] = 0 (load ``cr3`` with PCID 0 first, or activate with
/// `pcid: 0`), and ``cr3`` with a PCID only after.
extension X86_64Format {
  /// What to load for tables of this format.
  public struct Activation: Sendable, Equatable {
    /// CR3: the root's address and the PCID.
    public var cr3: UInt64
    /// The PCID CR3 carries (0 when PCIDs are not used).
    public var pcid: UInt16
    /// CR4 bits to set: PAE, PGE (global leaves stay in the TLB across CR3 loads),
    /// LA57 for 5-level paging, PCIDE when `pcid` is not 0.
    public var cr4: UInt64
    /// IA32_EFER bits to set: LME (long mode), NXE when the format uses XD.
    public var efer: UInt64
    /// CR0 bits to set: PE, WP (read-only leaves also stop supervisor stores), PG.
    public var cr0: UInt64
    /// IA32_PAT: the value the format's ``X86_64Format/PATLayout`` assumes.
    public var pat: UInt64

    /// Whether CR4.LA57 (5-level paging) is among the bits.
    public var fiveLevel: Bool { cr4 & X86_64Format.cr4LA57 != 0 }

    /// The registers, in the order to load them.
    public var registers: [RegisterValue] {
      [
        RegisterValue("IA32_PAT", pat), RegisterValue("IA32_EFER", efer),
        RegisterValue("CR4", cr4), RegisterValue("CR3", cr3), RegisterValue("CR0", cr0),
      ]
    }
  }

  static var cr0ProtectionEnable: UInt64 { 1 << 0 }
  static var cr0WriteProtect: UInt64 { 1 << 16 }
  static var cr0Paging: UInt64 { 1 << 31 }
  static var cr4PAE: UInt64 { 1 << 5 }
  static var cr4PGE: UInt64 { 1 << 7 }
  static var cr4LA57: UInt64 { 1 << 12 }
  static var cr4PCIDE: UInt64 { 1 << 17 }
  static var eferLME: UInt64 { 1 << 8 }
  static var eferNXE: UInt64 { 1 << 11 }

  /// The registers for the table whose root is at `rootAddress`, with `pcid` in CR3.
  ///
  /// - Throws: as ``cr3(rootAddress:pcid:)``.
  public func activation(rootAddress: UInt64, pcid: UInt16 = 0) throws(PageTableError)
    -> Activation
  {
    let cr3 = try cr3(rootAddress: rootAddress, pcid: pcid)
    var cr4 = Self.cr4PAE | Self.cr4PGE
    if levels == 5 { cr4 |= Self.cr4LA57 }
    if pcid != 0 { cr4 |= Self.cr4PCIDE }
    var efer = Self.eferLME
    if noExecute { efer |= Self.eferNXE }
    return Activation(
      cr3: cr3, pcid: pcid, cr4: cr4, efer: efer,
      cr0: Self.cr0ProtectionEnable | Self.cr0WriteProtect | Self.cr0Paging,
      pat: pat.msrValue)
  }
}

extension PageTable where Format == X86_64Format {
  /// The registers that activate this table (see ``X86_64Format/activation(rootAddress:pcid:)``).
  ///
  /// ```swift
  /// let cr3 = try table.activation(pcid: 1).cr3
  /// ```
  public func activation(pcid: UInt16 = 0) throws(PageTableError) -> X86_64Format.Activation {
    try format.activation(rootAddress: rootAddress(), pcid: pcid)
  }
}
