/// The register values that make a RISC-V hart walk tables of a ``RISCVFormat``.
///
/// ```swift
/// let format = RISCVFormat(.sv48, svpbmt: true)
/// let activation = try format.activation(rootAddress: table.rootAddress(), asid: 9)
/// // M-mode: csrs menvcfg, activation.menvcfg; S-mode: csrw satp, activation.satp;
/// // sfence.vma
/// ```
///
/// Bits from the RISC-V Instruction Set Manual, Volume II: Privileged Architecture:
/// "Supervisor Address Translation and Protection (satp) Register" (MODE [63:60]:
/// 8 Sv39, 9 Sv48, 10 Sv57; ASID [59:44]; PPN [43:0]) and "Machine Environment
/// Configuration (menvcfg) Register" (PBMTE [62] enables Svpbmt's PBMT field for
/// S-mode; ADUE [61] makes the hart update A and D itself, Svadu).
extension RISCVFormat {
  /// What to load for tables of this format.
  public struct Activation: Sendable, Equatable {
    /// `satp`.
    public var satp: UInt64
    /// The ASID `satp` carries.
    public var asid: UInt16
    /// `menvcfg` bits to set from M-mode (`henvcfg` for a guest): PBMTE with
    /// Svpbmt, ADUE when the hart is to set A and D itself.
    public var menvcfg: UInt64

    /// satp.MODE.
    public var mode: UInt64 { satp >> 60 }
    /// satp.PPN: the root's physical page number.
    public var rootPageNumber: UInt64 { satp & ((1 << 44) - 1) }

    /// The registers, in the order to load them.
    public var registers: [RegisterValue] {
      [RegisterValue("menvcfg", menvcfg), RegisterValue("satp", satp)]
    }
  }

  /// menvcfg.PBMTE.
  static var menvcfgPBMTE: UInt64 { 1 << 62 }
  /// menvcfg.ADUE.
  static var menvcfgADUE: UInt64 { 1 << 61 }

  /// The registers for the table whose root is at `rootAddress`.
  ///
  /// - Parameters:
  ///   - rootAddress: the physical address of the table's root (`table.rootAddress()`).
  ///   - asid: the address-space identifier (as many bits as the hart's ASIDLEN).
  ///   - hardwareAccessedDirty: set menvcfg.ADUE (Svadu), so leaves mapped with
  ///     ``Protection/accessed`` false, and stores to clean writable leaves, are
  ///     updated by the hart instead of faulting.
  /// - Throws: as ``satp(rootAddress:asid:)``.
  public func activation(
    rootAddress: UInt64, asid: UInt16 = 0, hardwareAccessedDirty: Bool = false
  ) throws(PageTableError) -> Activation {
    var menvcfg: UInt64 = 0
    if svpbmt { menvcfg |= Self.menvcfgPBMTE }
    if hardwareAccessedDirty { menvcfg |= Self.menvcfgADUE }
    return Activation(
      satp: try satp(rootAddress: rootAddress, asid: asid), asid: asid, menvcfg: menvcfg)
  }
}

extension PageTable where Format == RISCVFormat {
  /// The registers that activate this table (see
  /// ``RISCVFormat/activation(rootAddress:asid:hardwareAccessedDirty:)``).
  ///
  /// ```swift
  /// let satp = try table.activation(asid: 1).satp
  /// ```
  public func activation(asid: UInt16 = 0, hardwareAccessedDirty: Bool = false)
    throws(PageTableError) -> RISCVFormat.Activation
  {
    try format.activation(
      rootAddress: rootAddress(), asid: asid, hardwareAccessedDirty: hardwareAccessedDirty)
  }
}
