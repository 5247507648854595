import PageTables

extension GuestPlan {
  /// The mappings a guest's tables hold after it ran every step of this plan,
  /// worked out from the steps alone (a list of ranges: maps add, unmaps cut),
  /// never from the engine: what a dump of the guest's memory must show.
  ///
  /// ```swift
  /// var plan = GuestPlan(mode: .engine)
  /// plan.add(.map, 0x4000_0000, 0x8000_0000, 0x20_0000, GuestPlan.bits(.readWrite))
  /// plan.add(.unmap, 0x4000_1000, 0x1000)
  /// plan.mappingsLeft()   // 0x4000_0000 (4 KiB) and 0x4000_2000 (2 MiB - 8 KiB)
  /// ```
  ///
  /// The runs are in virtual-address order, one per mapped piece (adjacent pieces
  /// are not merged).
  public func mappingsLeft() -> [MappingRun] {
    var runs: [MappingRun] = []
    for step in steps {
      let (a, b, c, d) = step.operands
      switch step.operation {
      case .map, .identityMap:
        guard c > 0 else { continue }
        runs.append(
          MappingRun(
            virtualAddress: a, physicalAddress: b, size: c, protection: Self.protection(bits: d)))
      case .unmap, .unmapWithoutInvalidation:
        runs = runs.flatMap { Self.cut($0, start: a, size: b) }
      case .invalidateAll, .tag, .activate, .probe, .haltForDump:
        continue
      }
    }
    return runs.sorted { $0.virtualAddress < $1.virtualAddress }
  }

  /// What is left of `run` once `[start, start + size)` is unmapped: nothing,
  /// the run itself, or the pieces before and after the cut.
  static func cut(_ run: MappingRun, start: UInt64, size: UInt64) -> [MappingRun] {
    let runEnd = run.virtualAddress &+ run.size
    let cutEnd = start &+ size
    guard size > 0, start < runEnd, cutEnd > run.virtualAddress else { return [run] }
    var pieces: [MappingRun] = []
    if start > run.virtualAddress {
      var before = run
      before.size = start - run.virtualAddress
      pieces.append(before)
    }
    if cutEnd < runEnd {
      let skipped = cutEnd - run.virtualAddress
      pieces.append(
        MappingRun(
          virtualAddress: cutEnd, physicalAddress: run.physicalAddress &+ skipped,
          size: runEnd - cutEnd, protection: run.protection))
    }
    return pieces
  }

  /// The protection a step's protection word encodes: the inverse of ``bits(_:)``,
  /// as the guest program decodes it (`Examples/BareMetal/Program/PlanProtection.swift`).
  public static func protection(bits: UInt64) -> Protection { Protection(planBits: bits) }

  /// The format of an engine-mode plan as `pgtable --format` spells it, from the
  /// configuration word the guest reads (ARM64: input bits and page shift; x86-64:
  /// levels; RISC-V: the mode's bits, Svnapot and Svpbmt).
  public func formatText(for architecture: GuestMachine.Architecture) -> String {
    switch architecture {
    case .aarch64:
      let granule =
        switch configuration >> 8 & 0xFF {
        case 14: "16k"
        case 16: "64k"
        default: "4k"
        }
      return "arm64:granule=\(granule),inputBits=\(configuration & 0xFF)"
    case .x86_64:
      return "x86-64:levels=\(configuration)"
    case .riscv64:
      return
        "riscv:mode=sv\(configuration & 0xFF),svnapot=\(configuration & 0x100 != 0),svpbmt=\(configuration & 0x200 != 0)"
    }
  }
}
