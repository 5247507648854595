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
  var softwareBitProtections: Int
  var indexedProtections: Int
  var unaccessedProtections: Int
  var unmapChecks: Int
  var protects: Int
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

  /// The address-space identifiers the runs activate their tables with (ARM64
  /// ASID in TTBR, RISC-V ASID in `satp`; x86-64 PCID in CR3, with CR4.PCIDE), so
  /// that the identifier fields are loaded too.
  static var asid: UInt16 { 5 }
  static var pcid: UInt16 { 3 }

  static func granuleName(_ granule: ARM64Format.Granule) -> String {
    "\(granule.bytes >> 10)K"
  }

  /// MAIR_EL1 for the ARM64 runs: the format's standard attributes 0–2 and five
  /// more for mappings with an explicit ``Protection/attributeIndex``: 3 Normal
  /// write-through (0xBB), 4 Device-nGRE (0x08), 5 Device-GRE (0x0C), 6
  /// Device-nGnRnE (0x00), 7 Normal write-through read-allocate (0xAA).
  static var conformanceMAIR: ARM64Format.MemoryAttributes {
    var attributes = ARM64Format.MemoryAttributes.standard
    for (index, byte) in [(3, 0xBB), (4, 0x08), (5, 0x0C), (6, 0x00), (7, 0xAA)] as [(Int, UInt8)] {
      attributes[index] = byte
    }
    return attributes
  }

  /// The MAIR_EL1 attribute byte `AT` must report for a stage-1 leaf: the one its
  /// attribute index selects in ``conformanceMAIR``.
  static func mairAttribute(_ protection: Protection) -> UInt8 {
    let index: Int
    if let chosen = protection.attributeIndex {
      index = Int(chosen)
    } else {
      switch protection.memoryType {
      case .normal: index = 0
      case .device: index = 1
      case .uncached: index = 2
      }
    }
    return conformanceMAIR[index]
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
      plan.registers = try arm64Registers(
        generator.table.stage1Activation(asid: asid, memoryAttributes: conformanceMAIR))
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
      let activation = try generator.table.stage2Activation()
      plan.registers = [activation.vtcr.value, 0, activation.vttbr, 0, 0, 0, 0]
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
      // The guest's engine allocates its root first, as the generator's table did,
      // so these are the values the guest computes; it checks that and loads them.
      plan.registers = try arm64Registers(
        generator.table.stage1Activation(asid: asid, memoryAttributes: conformanceMAIR))
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
      // Both ways load the host's values (the guest's engine checks it computes the
      // same); LA57 only changes with paging off, so the start stub sets it.
      let activation = try generator.table.activation(pcid: pcid)
      plan.bootFlags = activation.fiveLevel ? 1 : 0
      plan.registers = [
        activation.cr3, activation.cr4, activation.efer, activation.cr0, activation.pat, 0, 0,
      ]
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
      let activation = try generator.table.activation(asid: asid)
      plan.registers = [activation.satp, activation.menvcfg, 0, 0, 0, 0, 0]
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
      protections: protectionsUsed.count,
      softwareBitProtections: protectionsUsed.filter { $0.softwareBits != 0 }.count,
      indexedProtections: protectionsUsed.filter { $0.attributeIndex != nil }.count,
      unaccessedProtections: protectionsUsed.filter { !$0.accessed }.count,
      unmapChecks: counts.unmapChecks, protects: counts.protects,
      description: mappingDescription)
  }
}

/// The plan's registers for a stage-1 activation: TCR, MAIR, TTBR0, TTBR1.
func arm64Registers(_ activation: ARM64Format.Stage1Activation) -> [UInt64] {
  [activation.tcr.value, activation.mair.value, activation.ttbr0, activation.ttbr1, 0, 0, 0]
}
