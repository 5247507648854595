import PageTables

/// One format configuration checked on one QEMU machine, one of two ways.
public struct ConformanceConfiguration: Sendable {
  /// Who builds the tables.
  public enum Way: String, Sendable {
    /// The host builds the tables with the library; QEMU loads the image.
    case hostBuilt = "host-built"
    /// The guest runs the engine (Embedded Swift) and builds its own tables.
    case guestEngine = "guest engine"
  }

  /// A name such as `ARM64 s1 4K ias48 oas48`.
  public let name: String
  /// The QEMU machine the guest runs on.
  public let machine: GuestMachine
  /// Whether the host or the guest's own engine builds the tables.
  public let way: Way
  /// The name and the way, as `--filter` matches them: `ARM64 s1 4K ias48 oas48 host-built`.
  public var fullName: String { "\(name) \(way.rawValue)" }
  /// What the probes check, for the report.
  public let probing: String
  let prepare: @Sendable (_ seed: UInt64) throws -> PreparedRun
}

/// Everything a guest run needs, and what it must print.
struct PreparedRun {
  var plan: GuestPlan
  var image: [UInt8]?
  var probes: [ProbeExpectation]
  /// aarch64: start at EL2.
  var hypervisor: Bool
  var mappings: Int
  var holes: Int
  var leafSizes: [UInt64]
  var contiguousLeaves: Int
  var protections: Int
  var unmapChecks: Int
  /// The test mappings and holes, one per line, for the run directory.
  var description: String
}

extension ConformanceConfiguration {
  /// Every configuration, host-built and guest-engine.
  public static var all: [ConformanceConfiguration] {
    var all: [ConformanceConfiguration] = []
    // ARM64 stage 1: every granule at 39, 48 and 52 bits (LPA2 / LVA+LPA), and TTBR1.
    for granule in [ARM64Format.Granule.k4, .k16, .k64] {
      for (input, output) in [(39, 40), (48, 48), (52, 52)] {
        all.append(arm64Stage1(granule: granule, inputBits: input, outputBits: output))
      }
    }
    all.append(arm64Stage1(granule: .k4, inputBits: 48, outputBits: 48, ttbr1: true))
    all.append(arm64Stage1(granule: .k16, inputBits: 47, outputBits: 44, ttbr1: true))
    // ARM64 stage 2 (concatenated root tables where the architecture allows).
    for (granule, input, output) in [
      (ARM64Format.Granule.k4, 40, 40), (.k4, 48, 48), (.k16, 42, 48), (.k64, 48, 48),
      (.k4, 52, 52),
    ] {
      all.append(arm64Stage2(granule: granule, inputBits: input, outputBits: output))
    }
    for levels in [4, 5] { all.append(x86(levels: levels, way: .hostBuilt)) }
    for mode in [RISCVFormat.Mode.sv39, .sv48, .sv57] {
      all.append(riscv(mode, way: .hostBuilt))
    }
    // The engine inside the guest.
    for granule in [ARM64Format.Granule.k4, .k16, .k64] {
      all.append(arm64Engine(granule: granule))
    }
    for levels in [4, 5] { all.append(x86(levels: levels, way: .guestEngine)) }
    for mode in [RISCVFormat.Mode.sv39, .sv48, .sv57] {
      all.append(riscv(mode, way: .guestEngine))
    }
    return all
  }

  static func granuleName(_ granule: ARM64Format.Granule) -> String {
    "\(granule.bytes >> 10)K"
  }

  /// The MAIR_EL1 attribute byte `ARM64Format.mair` gives a memory type.
  static func mairAttribute(_ type: MemoryType) -> UInt8 {
    switch type {
    case .normal: 0xFF
    case .device: 0x04
    case .uncached: 0x44
    }
  }

  static func arm64Stage1(
    granule: ARM64Format.Granule, inputBits: Int, outputBits: Int, ttbr1: Bool = false
  ) -> ConformanceConfiguration {
    let name =
      "ARM64 s1 \(granuleName(granule)) ias\(inputBits) oas\(outputBits)\(ttbr1 ? " TTBR1" : "")"
    return ConformanceConfiguration(
      name: name, machine: .aarch64, way: .hostBuilt,
      probing: "AT S1E1R/S1E1W/S1E0R/S1E0W from EL2: PA, MAIR attribute, fault type"
    ) { seed in
      let format = try ARM64Format(
        granule: granule, inputBits: inputBits, outputBits: outputBits,
        translationBase: ttbr1 ? .ttbr1 : .ttbr0)
      let generator = try PlanGenerator(
        format: format, machine: .aarch64, mode: .prebuilt,
        kinds: [.atS1E1R, .atS1E1W, .atS1E0R, .atS1E0W], physical: .anywhere(bits: outputBits),
        identity: false, attribute: mairAttribute, seed: seed)
      try generator.generate()
      var plan = generator.plan
      plan.configuration = 1
      let root = generator.table.rootAddress()
      plan.registers = [
        ARM64Registers.tcr(format), ARM64Format.mair, ttbr1 ? 0 : root, ttbr1 ? root : 0,
      ]
      return generator.prepared(plan, hypervisor: true)
    }
  }

  static func arm64Stage2(granule: ARM64Format.Granule, inputBits: Int, outputBits: Int)
    -> ConformanceConfiguration
  {
    ConformanceConfiguration(
      name: "ARM64 s2 \(granuleName(granule)) ias\(inputBits) oas\(outputBits)",
      machine: .aarch64, way: .hostBuilt,
      probing: "AT S12E1R/S12E1W from EL2 (stage 1 off): PA, fault type"
    ) { seed in
      let format = try ARM64Format(
        granule: granule, stage: .two, inputBits: inputBits, outputBits: outputBits)
      let generator = try PlanGenerator(
        format: format, machine: .aarch64, mode: .prebuilt, kinds: [.atS12E1R, .atS12E1W],
        physical: .anywhere(bits: outputBits), identity: false, attribute: nil, seed: seed)
      try generator.generate()
      var plan = generator.plan
      plan.configuration = 2
      plan.registers = [ARM64Registers.vtcr(format), 0, generator.table.rootAddress(), 0]
      return generator.prepared(plan, hypervisor: true)
    }
  }

  static func arm64Engine(granule: ARM64Format.Granule) -> ConformanceConfiguration {
    ConformanceConfiguration(
      name: "ARM64 s1 \(granuleName(granule)) ias48 oas48", machine: .aarch64,
      way: .guestEngine,
      probing: "EL1 loads/stores (tags, TLBI) and AT S1E1R/S1E1W/S1E0R/S1E0W"
    ) { seed in
      let format = try ARM64Format(granule: granule, inputBits: 48, outputBits: 48)
      let generator = try PlanGenerator(
        format: format, machine: .aarch64, mode: .engine,
        kinds: [.atS1E1R, .atS1E1W, .atS1E0R, .atS1E0W, .el1Load, .el1Store],
        physical: .pool(giantsAtZero: false), identity: true, attribute: mairAttribute,
        seed: seed)
      try generator.generate()
      var plan = generator.plan
      plan.configuration = UInt64(granule.pageShift) << 8 | 48
      return generator.prepared(plan, hypervisor: false)
    }
  }

  static func x86(levels: Int, way: Way) -> ConformanceConfiguration {
    ConformanceConfiguration(
      name: "x86-64 \(levels)-level", machine: .x86_64, way: way,
      probing: "CPL0 loads/stores with AC=1 (tags), loads with SMAP (user bit)"
        + (way == .guestEngine ? ", INVLPG" : "")
    ) { seed in
      let format = try X86_64Format(levels: levels)
      let generator = try PlanGenerator(
        format: format, machine: .x86_64, mode: way == .hostBuilt ? .prebuilt : .engine,
        kinds: [.kernelLoad, .kernelStore, .smapLoad], physical: .pool(giantsAtZero: false),
        identity: true, attribute: nil, seed: seed)
      try generator.generate()
      var plan = generator.plan
      plan.configuration = UInt64(levels)
      plan.bootFlags = levels == 5 ? 1 : 0
      if way == .hostBuilt {
        plan.registers[0] = try format.cr3(rootAddress: generator.table.rootAddress())
      }
      return generator.prepared(plan, hypervisor: false)
    }
  }

  static func riscv(_ mode: RISCVFormat.Mode, way: Way) -> ConformanceConfiguration {
    let name = "RISC-V Sv\(mode.virtualAddressBits) Svnapot Svpbmt"
    return ConformanceConfiguration(
      name: name, machine: .riscv64, way: way,
      probing: way == .hostBuilt
        ? "S- and U-mode loads/stores through MPRV from M-mode (tags)"
        : "S-mode loads/stores (tags, SFENCE.VMA)"
    ) { seed in
      let format = RISCVFormat(mode, svnapot: true, svpbmt: true)
      let generator = try PlanGenerator(
        format: format, machine: .riscv64, mode: way == .hostBuilt ? .prebuilt : .engine,
        kinds: way == .hostBuilt
          ? [.mprvSupervisorLoad, .mprvSupervisorStore, .mprvUserLoad, .mprvUserStore]
          : [.supervisorLoad, .supervisorStore],
        physical: .pool(giantsAtZero: way == .hostBuilt), identity: way == .guestEngine,
        attribute: nil, seed: seed)
      try generator.generate()
      var plan = generator.plan
      plan.configuration = UInt64(mode.virtualAddressBits) | 0x300
      if way == .hostBuilt {
        plan.registers[0] = try format.satp(rootAddress: generator.table.rootAddress())
      }
      return generator.prepared(plan, hypervisor: false)
    }
  }
}

extension PlanGenerator {
  func prepared(_ plan: GuestPlan, hypervisor: Bool) -> PreparedRun {
    PreparedRun(
      plan: plan, image: mode == .prebuilt ? memory.bytes() : nil, probes: probes,
      hypervisor: hypervisor, mappings: counts.maps, holes: counts.holes,
      leafSizes: leafSizes.sorted(), contiguousLeaves: contiguousLeaves,
      protections: protectionsUsed.count, unmapChecks: counts.unmapChecks,
      description: mappingDescription)
  }
}

/// ARM64 translation control registers for a format (Arm ARM D19: TCR_EL1,
/// VTCR_EL2).
enum ARM64Registers {
  static func outputSizeCode(_ bits: Int) -> UInt64 {
    UInt64(ARM64Format.outputSizes.firstIndex(of: bits) ?? 5)
  }

  /// TCR_EL1: the format's window (TTBR0 or TTBR1; the other one disabled),
  /// write-back inner-shareable walks, granule, IPS, DS for the LPA2 layout.
  static func tcr(_ format: ARM64Format) -> UInt64 {
    let size = UInt64(64 - format.inputBits)
    var tcr: UInt64 = 0
    switch format.translationBase {
    case .ttbr0:
      let tg0: UInt64 = format.granule == .k4 ? 0 : format.granule == .k64 ? 1 : 2
      tcr |= size | 1 << 8 | 1 << 10 | 3 << 12 | tg0 << 14 | 1 << 23 | size << 16 | 2 << 30
    case .ttbr1:
      let tg1: UInt64 = format.granule == .k16 ? 1 : format.granule == .k4 ? 2 : 3
      tcr |= size | 1 << 7 | size << 16 | 1 << 24 | 1 << 26 | 3 << 28 | tg1 << 30
    }
    tcr |= outputSizeCode(format.outputBits) << 32
    if format.usesLPA2 { tcr |= 1 << 59 }
    return tcr
  }

  /// VTCR_EL2: T0SZ, SL0/SL2 for the format's start level, write-back
  /// inner-shareable walks, granule, PS, DS; bit 31 is RES1.
  static func vtcr(_ format: ARM64Format) -> UInt64 {
    var vtcr = UInt64(64 - format.inputBits) | 1 << 8 | 1 << 10 | 3 << 12 | 1 << 31
    let level = format.startLevel
    switch format.granule {
    case .k4:
      vtcr |= 0 << 14
      switch level {
      case -1: vtcr |= 1 << 33
      case 0: vtcr |= 2 << 6
      case 1: vtcr |= 1 << 6
      case 2: vtcr |= 0 << 6
      default: vtcr |= 3 << 6
      }
    case .k16:
      vtcr |= 2 << 14 | UInt64(3 - level) << 6
    case .k64:
      vtcr |= 1 << 14 | UInt64(3 - level) << 6
    }
    vtcr |= outputSizeCode(format.outputBits) << 16
    if format.usesLPA2 { vtcr |= 1 << 32 }
    return vtcr
  }
}
