/// The register values that make an ARM64 MMU walk tables of an ``ARM64Format``:
/// TTBR0/TTBR1, TCR and MAIR at stage 1, VTTBR and VTCR at stage 2.
///
/// ```swift
/// let format = try ARM64Format(granule: .k4, inputBits: 48)
/// let table = try PageTable(format: format, memory: image)
/// let activation = try format.stage1Activation(rootAddress: table.rootAddress(), asid: 7)
/// // msr MAIR_EL1, activation.mair.value; msr TCR_EL1, activation.tcr.value
/// // msr TTBR0_EL1, activation.ttbr0; isb; then set SCTLR_EL1.M
/// ```
///
/// Every bit is from the Arm Architecture Reference Manual for A-profile (DDI 0487),
/// the register descriptions of TCR_EL1, TTBR0_EL1, TTBR1_EL1, MAIR_EL1, VTCR_EL2
/// and VTTBR_EL2. The choices: translation table walks are inner shareable and
/// write-back write-allocate cacheable (IRGN = ORGN = 0b01, SH = 0b11, what Linux
/// uses); the window a table does not serve is disabled (EPD0/EPD1) with a valid
/// granule encoding and its walk attributes 0; the ASID is 16 bits wide (TCR.AS) only when it needs to be.
extension ARM64Format {
  /// MAIR_ELx: eight memory-attribute bytes, the one a leaf's AttrIndx selects.
  ///
  /// ```swift
  /// var attributes = ARM64Format.MemoryAttributes.standard   // 0 WB, 1 Device-nGnRE, 2 NC
  /// attributes[3] = 0x00                                     // Device-nGnRnE at index 3
  /// try table.map(..., protection: Protection(write: true, attributeIndex: 3))
  /// ```
  public struct MemoryAttributes: Hashable, Sendable {
    /// The register value: attribute `i` in bits [8i+7:8i].
    public var value: UInt64

    /// Attributes from a register value.
    public init(value: UInt64) { self.value = value }

    /// The attributes the format's built-in memory types use (``ARM64Format/mair``):
    /// 0 Normal write-back read/write-allocate (0xFF), 1 Device-nGnRE (0x04), 2 Normal
    /// non-cacheable (0x44); 3–7 Device-nGnRnE (0x00) until set.
    public static var standard: MemoryAttributes { MemoryAttributes(value: ARM64Format.mair) }

    /// Attribute byte `index` (0...7; other indices trap: a caller's bug in a
    /// constant, not data).
    public subscript(index: Int) -> UInt8 {
      get {
        precondition((0..<8).contains(index), "MemoryAttributes: index is 0...7")
        return UInt8(truncatingIfNeeded: value >> UInt64(8 * index))
      }
      set {
        precondition((0..<8).contains(index), "MemoryAttributes: index is 0...7")
        let shift = UInt64(8 * index)
        value = value & ~(0xFF << shift) | UInt64(newValue) << shift
      }
    }
  }

  /// TCR_ELx, field by field (Arm ARM, TCR_EL1).
  public struct TranslationControl: Hashable, Sendable {
    /// T0SZ [5:0]: 64 − the TTBR0 window's input bits.
    public var t0sz: UInt8 = 16
    /// EPD0 [7]: no walks through TTBR0.
    public var epd0 = false
    /// IRGN0 [9:8], ORGN0 [11:10], SH0 [13:12]: cacheability and shareability of
    /// TTBR0 walks (1 = write-back write-allocate; 3 = inner shareable).
    public var irgn0: UInt8 = 1
    /// ORGN0 [11:10]: outer cacheability of TTBR0 walks.
    public var orgn0: UInt8 = 1
    /// SH0 [13:12]: shareability of TTBR0 walks.
    public var sh0: UInt8 = 3
    /// TG0 [15:14]: 0 4K, 1 64K, 2 16K.
    public var tg0: UInt8 = 0
    /// T1SZ [21:16]: 64 − the TTBR1 window's input bits.
    public var t1sz: UInt8 = 16
    /// A1 [22]: the ASID is TTBR1's (else TTBR0's).
    public var a1 = false
    /// EPD1 [23]: no walks through TTBR1.
    public var epd1 = false
    /// IRGN1 [25:24], ORGN1 [27:26], SH1 [29:28]: as for TTBR0.
    public var irgn1: UInt8 = 1
    /// ORGN1 [27:26]: outer cacheability of TTBR1 walks.
    public var orgn1: UInt8 = 1
    /// SH1 [29:28]: shareability of TTBR1 walks.
    public var sh1: UInt8 = 3
    /// TG1 [31:30]: 1 16K, 2 4K, 3 64K.
    public var tg1: UInt8 = 2
    /// IPS [34:32]: the output size (0 32, 1 36, 2 40, 3 42, 4 44, 5 48, 6 52 bits).
    public var ips: UInt8 = 5
    /// AS [36]: 16-bit ASIDs.
    public var asid16 = false
    /// HA [39]: the hardware sets the Access flag (FEAT_HAFDBS).
    public var ha = false
    /// HD [40]: the hardware manages dirty state through DBM (needs HA).
    public var hd = false
    /// DS [59]: the FEAT_LPA2 descriptor layout (52-bit addresses with 4K/16K).
    public var ds = false

    /// A control value with every field at its documented default.
    public init() {}

    /// The register value.
    public var value: UInt64 {
      var tcr = UInt64(t0sz & 0x3F)
      if epd0 { tcr |= 1 << 7 }
      tcr |= UInt64(irgn0 & 3) << 8 | UInt64(orgn0 & 3) << 10 | UInt64(sh0 & 3) << 12
      tcr |= UInt64(tg0 & 3) << 14 | UInt64(t1sz & 0x3F) << 16
      if a1 { tcr |= 1 << 22 }
      if epd1 { tcr |= 1 << 23 }
      tcr |= UInt64(irgn1 & 3) << 24 | UInt64(orgn1 & 3) << 26 | UInt64(sh1 & 3) << 28
      tcr |= UInt64(tg1 & 3) << 30 | UInt64(ips & 7) << 32
      if asid16 { tcr |= 1 << 36 }
      if ha { tcr |= 1 << 39 }
      if hd { tcr |= 1 << 40 }
      if ds { tcr |= 1 << 59 }
      return tcr
    }
  }

  /// What to load for stage-1 tables: TTBR0_ELx, TTBR1_ELx, TCR_ELx and MAIR_ELx.
  public struct Stage1Activation: Sendable, Equatable {
    /// TTBR0_ELx: BADDR and, unless TCR.A1, the ASID in [63:48]; 0 if unused.
    public var ttbr0: UInt64
    /// TTBR1_ELx: BADDR and, with TCR.A1, the ASID in [63:48]; 0 if unused.
    public var ttbr1: UInt64
    /// TCR_ELx.
    public var tcr: TranslationControl
    /// MAIR_ELx.
    public var mair: MemoryAttributes
    /// The ASID the TTBRs carry.
    public var asid: UInt16

    /// The registers in the order to load them (MAIR and TCR, then the TTBRs).
    public var registers: [RegisterValue] {
      [
        RegisterValue("MAIR_EL1", mair.value), RegisterValue("TCR_EL1", tcr.value),
        RegisterValue("TTBR0_EL1", ttbr0), RegisterValue("TTBR1_EL1", ttbr1),
      ]
    }

    /// One activation for a TTBR0 table (`self`) and a TTBR1 table (`upper`): both
    /// windows walk, the ASID is TTBR0's (TCR.A1 = 0), MAIR is `self`'s.
    /// - Throws: ``PageTableError/invalidConfiguration(_:)`` unless `self` serves
    ///   TTBR0 and `upper` TTBR1 with the same output size.
    public func combined(withUpper upper: Stage1Activation) throws(PageTableError)
      -> Stage1Activation
    {
      guard !tcr.epd0, tcr.epd1, upper.tcr.epd0, !upper.tcr.epd1, tcr.ips == upper.tcr.ips,
        tcr.ds == upper.tcr.ds
      else {
        throw .invalidConfiguration(
          "ARM64: combine a TTBR0 activation with a TTBR1 one of the same output size")
      }
      var result = self
      result.tcr.epd1 = false
      result.tcr.t1sz = upper.tcr.t1sz
      result.tcr.tg1 = upper.tcr.tg1
      result.tcr.irgn1 = upper.tcr.irgn1
      result.tcr.orgn1 = upper.tcr.orgn1
      result.tcr.sh1 = upper.tcr.sh1
      result.tcr.a1 = false
      result.tcr.asid16 = tcr.asid16 || upper.tcr.asid16
      result.tcr.ha = tcr.ha || upper.tcr.ha
      result.tcr.hd = tcr.hd || upper.tcr.hd
      result.ttbr1 = upper.ttbr1 & ((1 << 48) - 1)
      return result
    }
  }

  /// VTCR_EL2, field by field (Arm ARM, VTCR_EL2).
  public struct Stage2TranslationControl: Hashable, Sendable {
    /// T0SZ [5:0]: 64 − the IPA bits.
    public var t0sz: UInt8 = 24
    /// SL0 [7:6]: the start level (with TG0; see ``ARM64Format/startLevel``).
    public var sl0: UInt8 = 1
    /// IRGN0 [9:8], ORGN0 [11:10], SH0 [13:12]: walk attributes.
    public var irgn0: UInt8 = 1
    /// ORGN0 [11:10]: outer cacheability of stage-2 walks.
    public var orgn0: UInt8 = 1
    /// SH0 [13:12]: shareability of stage-2 walks.
    public var sh0: UInt8 = 3
    /// TG0 [15:14]: 0 4K, 1 64K, 2 16K.
    public var tg0: UInt8 = 0
    /// PS [18:16]: the output size, encoded as TCR.IPS.
    public var ps: UInt8 = 5
    /// VS [19]: 16-bit VMIDs.
    public var vmid16 = false
    /// HA [21], HD [22]: hardware Access flag and dirty state (FEAT_HAFDBS).
    public var ha = false
    /// HD [22]: hardware dirty state (with HA).
    public var hd = false
    /// DS [32]: the FEAT_LPA2 descriptor layout.
    public var ds = false
    /// SL2 [33]: with SL0 = 0 and the 4K granule, start at level −1 (FEAT_LPA2).
    public var sl2 = false

    /// A control value with every field at its documented default.
    public init() {}

    /// The register value (bit 31 is RES1).
    public var value: UInt64 {
      var vtcr = UInt64(t0sz & 0x3F) | UInt64(sl0 & 3) << 6
      vtcr |= UInt64(irgn0 & 3) << 8 | UInt64(orgn0 & 3) << 10 | UInt64(sh0 & 3) << 12
      vtcr |= UInt64(tg0 & 3) << 14 | UInt64(ps & 7) << 16 | 1 << 31
      if vmid16 { vtcr |= 1 << 19 }
      if ha { vtcr |= 1 << 21 }
      if hd { vtcr |= 1 << 22 }
      if ds { vtcr |= 1 << 32 }
      if sl2 { vtcr |= 1 << 33 }
      return vtcr
    }
  }

  /// What to load for stage-2 tables: VTTBR_EL2 and VTCR_EL2.
  public struct Stage2Activation: Sendable, Equatable {
    /// VTTBR_EL2: BADDR and the VMID in [63:48].
    public var vttbr: UInt64
    /// VTCR_EL2.
    public var vtcr: Stage2TranslationControl
    /// The VMID VTTBR carries.
    public var vmid: UInt16

    /// The registers in the order to load them.
    public var registers: [RegisterValue] {
      [RegisterValue("VTCR_EL2", vtcr.value), RegisterValue("VTTBR_EL2", vttbr)]
    }
  }

  /// TCR.IPS / VTCR.PS for the output size.
  var outputSizeCode: UInt8 {
    switch outputBits {
    case 32: 0
    case 36: 1
    case 40: 2
    case 42: 3
    case 44: 4
    case 48: 5
    default: 6
    }
  }

  /// BADDR of a TTBR or VTTBR for the root at `rootAddress`: in place, with
  /// BADDR[51:48] in bits [5:2] for a 52-bit output size (FEAT_LPA, FEAT_LPA2).
  func translationTableBase(_ rootAddress: UInt64) throws(PageTableError) -> UInt64 {
    let alignment = UInt64(max(64, geometry.rootTableBytes))
    guard rootAddress & (alignment - 1) == 0 else {
      throw .misalignedPhysicalAddress(rootAddress)
    }
    guard outputBits >= 64 || rootAddress >> UInt64(outputBits) == 0 else {
      throw .physicalAddressOutOfRange(rootAddress)
    }
    if outputBits == 52 {
      return rootAddress & 0x0000_FFFF_FFFF_FFC0 | (rootAddress >> 48 & 0xF) << 2
    }
    return rootAddress
  }

  /// The stage-1 registers for a table of this format whose root is at
  /// `rootAddress`: its TTBR (the other one 0 and its walks disabled), TCR and MAIR.
  ///
  /// - Parameters:
  ///   - rootAddress: the physical address of the table's root (`table.rootAddress()`).
  ///   - asid: the address-space identifier the TTBR carries (TCR.AS is set when it
  ///     needs more than 8 bits; TCR.A1 selects TTBR1's for a TTBR1 table).
  ///   - memoryAttributes: MAIR; give one whose attributes mean what your leaves'
  ///     ``Protection/attributeIndex`` values expect.
  ///   - hardwareAccessFlag: set TCR.HA, so leaves mapped with
  ///     ``Protection/accessed`` false get AF from the hardware on first access
  ///     (always set with `dirtyTracking`, which also sets TCR.HD).
  /// - Throws: ``PageTableError/invalidConfiguration(_:)`` for a stage-2 format,
  ///   ``PageTableError/misalignedPhysicalAddress(_:)`` for a root not aligned to its
  ///   size, ``PageTableError/physicalAddressOutOfRange(_:)`` for one above the
  ///   output size.
  public func stage1Activation(
    rootAddress: UInt64, asid: UInt16 = 0, memoryAttributes: MemoryAttributes = .standard,
    hardwareAccessFlag: Bool = false
  ) throws(PageTableError) -> Stage1Activation {
    guard stage == .one else {
      throw .invalidConfiguration("ARM64: stage-2 tables are activated with VTTBR/VTCR")
    }
    let base = try translationTableBase(rootAddress)
    let size = UInt8(64 - inputBits)
    var tcr = TranslationControl()
    tcr.t0sz = size
    tcr.t1sz = size
    tcr.ips = outputSizeCode
    tcr.ds = usesLPA2
    tcr.asid16 = asid > 0xFF
    tcr.ha = hardwareAccessFlag || dirtyTracking
    tcr.hd = dirtyTracking
    let tagged = base | UInt64(asid) << 48
    switch translationBase {
    case .ttbr0:
      tcr.tg0 = granule == .k4 ? 0 : granule == .k64 ? 1 : 2
      tcr.epd1 = true
      tcr.irgn1 = 0
      tcr.orgn1 = 0
      tcr.sh1 = 0
      return Stage1Activation(
        ttbr0: tagged, ttbr1: 0, tcr: tcr, mair: memoryAttributes, asid: asid)
    case .ttbr1:
      tcr.tg1 = granule == .k16 ? 1 : granule == .k4 ? 2 : 3
      tcr.epd0 = true
      tcr.irgn0 = 0
      tcr.orgn0 = 0
      tcr.sh0 = 0
      tcr.a1 = true
      return Stage1Activation(
        ttbr0: 0, ttbr1: tagged, tcr: tcr, mair: memoryAttributes, asid: asid)
    }
  }

  /// The stage-2 registers for a table of this format whose root (the first of
  /// ``concatenatedTables``) is at `rootAddress`.
  ///
  /// - Parameters:
  ///   - rootAddress: the physical address of the table's root (`table.rootAddress()`).
  ///   - vmid: the virtual machine identifier VTTBR carries (VTCR.VS is set when it
  ///     needs more than 8 bits).
  ///   - hardwareAccessFlag: set VTCR.HA (always with `dirtyTracking`, which also
  ///     sets VTCR.HD).
  /// - Throws: as ``stage1Activation(rootAddress:asid:memoryAttributes:hardwareAccessFlag:)``,
  ///   with ``PageTableError/invalidConfiguration(_:)`` for a stage-1 format.
  public func stage2Activation(
    rootAddress: UInt64, vmid: UInt16 = 0, hardwareAccessFlag: Bool = false
  ) throws(PageTableError) -> Stage2Activation {
    guard stage == .two else {
      throw .invalidConfiguration("ARM64: stage-1 tables are activated with TTBRn/TCR/MAIR")
    }
    let base = try translationTableBase(rootAddress)
    var vtcr = Stage2TranslationControl()
    vtcr.t0sz = UInt8(64 - inputBits)
    // SL0 counts down from level 3 with 16K/64K; with 4K, level 0 is 2 and level −1
    // is SL2 = 1 with SL0 = 0 (Arm ARM, VTCR_EL2.SL0 and SL2).
    switch granule {
    case .k4:
      vtcr.tg0 = 0
      switch startLevel {
      case -1:
        vtcr.sl2 = true
        vtcr.sl0 = 0
      case 0: vtcr.sl0 = 2
      case 1: vtcr.sl0 = 1
      case 2: vtcr.sl0 = 0
      default: vtcr.sl0 = 3
      }
    case .k16:
      vtcr.tg0 = 2
      vtcr.sl0 = UInt8(3 - startLevel)
    case .k64:
      vtcr.tg0 = 1
      vtcr.sl0 = UInt8(3 - startLevel)
    }
    vtcr.ps = outputSizeCode
    vtcr.ds = usesLPA2
    vtcr.vmid16 = vmid > 0xFF
    vtcr.ha = hardwareAccessFlag || dirtyTracking
    vtcr.hd = dirtyTracking
    return Stage2Activation(vttbr: base | UInt64(vmid) << 48, vtcr: vtcr, vmid: vmid)
  }
}

extension PageTable where Format == ARM64Format {
  /// The stage-1 registers that activate this table (see
  /// ``ARM64Format/stage1Activation(rootAddress:asid:memoryAttributes:hardwareAccessFlag:)``).
  ///
  /// ```swift
  /// let registers = try table.stage1Activation(asid: 1).registers
  /// ```
  public func stage1Activation(
    asid: UInt16 = 0,
    memoryAttributes: ARM64Format.MemoryAttributes = .standard, hardwareAccessFlag: Bool = false
  ) throws(PageTableError) -> ARM64Format.Stage1Activation {
    try format.stage1Activation(
      rootAddress: rootAddress(), asid: asid, memoryAttributes: memoryAttributes,
      hardwareAccessFlag: hardwareAccessFlag)
  }

  /// The stage-2 registers that activate this table (see
  /// ``ARM64Format/stage2Activation(rootAddress:vmid:hardwareAccessFlag:)``).
  ///
  /// ```swift
  /// let vttbr = try table.stage2Activation(vmid: 2).vttbr
  /// ```
  public func stage2Activation(vmid: UInt16 = 0, hardwareAccessFlag: Bool = false)
    throws(PageTableError) -> ARM64Format.Stage2Activation
  {
    try format.stage2Activation(
      rootAddress: rootAddress(), vmid: vmid, hardwareAccessFlag: hardwareAccessFlag)
  }
}
