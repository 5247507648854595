import PageTables
import _Volatile

// The aarch64 side of the guest: the PL011 UART, MMU registers, TLB maintenance
// (TLBI) and the probes. Memory (QEMU virt, 3 GiB of RAM from 0x4000_0000): the
// program at 0x4020_0000, the host's plan at 0x4100_0000, prebuilt tables at
// 0x4200_0000, engine tables at 0x4400_0000, probe targets from 0x8000_0000.

@_extern(c, "semihosting_exit") func semihostingExit(_ status: Int32)
@_extern(c, "probe_load")
func probeLoad(_ address: UInt64, _ fault: UnsafeMutablePointer<UInt64>) -> UInt64
@_extern(c, "probe_store")
func probeStore(_ address: UInt64, _ value: UInt64, _ fault: UnsafeMutablePointer<UInt64>)
@_extern(c, "at_s1e1r") func translateStage1EL1Read(_ address: UInt64) -> UInt64
@_extern(c, "at_s1e1w") func translateStage1EL1Write(_ address: UInt64) -> UInt64
@_extern(c, "at_s1e0r") func translateStage1EL0Read(_ address: UInt64) -> UInt64
@_extern(c, "at_s1e0w") func translateStage1EL0Write(_ address: UInt64) -> UInt64
@_extern(c, "at_s12e1r") func translateStages12Read(_ address: UInt64) -> UInt64
@_extern(c, "at_s12e1w") func translateStages12Write(_ address: UInt64) -> UInt64
@_extern(c, "mmu_configure_el1")
func configureEL1MMU(_ mair: UInt64, _ tcr: UInt64, _ ttbr0: UInt64, _ ttbr1: UInt64)
@_extern(c, "mmu_enable_el1") func enableEL1MMU()
@_extern(c, "stage2_configure") func configureStage2(_ vtcr: UInt64, _ vttbr: UInt64)
@_extern(c, "barrier_after_map") func barrierAfterMap()
@_extern(c, "tlbi_va") func invalidateTLBEntry(_ address: UInt64, _ leafOnly: UInt64)
@_extern(c, "tlbi_sync") func synchronizeTLB()
@_extern(c, "tlbi_all") func invalidateWholeTLB()

enum Machine {
  static var name: StaticString { "aarch64" }
  static var planAddress: UInt64 { 0x4100_0000 }

  /// Writes a byte to the PL011's data register.
  static func putByte(_ byte: UInt8) {
    unsafe VolatileMappedRegister<UInt8>(unsafeBitPattern: 0x0900_0000).store(byte)
  }

  static func exit(_ status: Int32) -> Never {
    semihostingExit(status)
    while true {}
  }

  static func writePhysical(_ address: UInt64, _ value: UInt64) {
    unsafe UnsafeMutablePointer<UInt64>(bitPattern: UInt(address))!.pointee = value
  }

  /// Prebuilt tables, probed from EL2 with AT: configuration 1 is stage 1 (registers
  /// TCR_EL1, MAIR_EL1, TTBR0_EL1, TTBR1_EL1), 2 is stage 2 (VTCR_EL2, -, VTTBR_EL2),
  /// loaded exactly as the plan gives them (the host's activation values).
  /// Translation of the EL1&0 regime is switched on; the program itself, at EL2,
  /// keeps running untranslated.
  static func activatePrebuilt(_ plan: Plan) {
    if plan.configuration == 2 {
      configureStage2(plan.register(0), plan.register(2))
    } else {
      configureEL1MMU(plan.register(1), plan.register(0), plan.register(2), plan.register(3))
      enableEL1MMU()
    }
  }

  /// New entries must reach memory before the table walker reads them.
  static func afterMap(virtualAddress: UInt64, size: UInt64) {
    barrierAfterMap()
  }

  /// Access kinds: 0–3 `AT S1E1R`, `S1E1W`, `S1E0R`, `S1E0W` (the answer is
  /// PAR_EL1); 4 load and 5 store at EL1; 6–7 `AT S12E1R`, `S12E1W` (stage 2).
  static func probe(_ address: UInt64, kind: Int, storeValue: UInt64) -> ProbeResult {
    switch kind {
    case 0: return .translated(translateStage1EL1Read(address))
    case 1: return .translated(translateStage1EL1Write(address))
    case 2: return .translated(translateStage1EL0Read(address))
    case 3: return .translated(translateStage1EL0Write(address))
    case 6: return .translated(translateStages12Read(address))
    case 7: return .translated(translateStages12Write(address))
    default: break
    }
    var fault: (UInt64, UInt64) = (0, 0)
    let aligned = address & ~7
    return unsafe withUnsafeMutablePointer(to: &fault) { pointer in
      let record = unsafe UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt64.self)
      var result = ProbeResult.stored
      if kind == 4 {
        result = .loaded(unsafe probeLoad(aligned, record))
      } else {
        unsafe probeStore(aligned, storeValue, record)
      }
      if unsafe record[0] != 0 {
        return unsafe .fault(code: record[0], address: record[1])
      }
      return result
    }
  }

  /// Engine mode, at EL1: the configuration word is the input size (bits 0–7) and
  /// the granule's page shift (bits 8–15: 12, 14 or 16).
  static func runEngine(_ plan: Plan) {
    let granule: ARM64Format.Granule
    switch plan.configuration >> 8 & 0xFF {
    case 14: granule = .k16
    case 16: granule = .k64
    default: granule = .k4
    }
    let format: ARM64Format
    do throws(PageTableError) {
      format = try ARM64Format(granule: granule, inputBits: Int(plan.configuration & 0xFF))
    } catch {
      Console.write("PTERROR configuration\n")
      return
    }
    // The plan's MAIR (register 1) describes the attribute indices the mappings use.
    let attributes = ARM64Format.MemoryAttributes(value: plan.register(1))
    runWithEngine(plan, format: format) { root in
      do throws(PageTableError) {
        // The ASID comes from the plan's TTBR0 (bits 63:48).
        let activation = try format.stage1Activation(
          rootAddress: root, asid: UInt16(truncatingIfNeeded: plan.register(2) >> 48),
          memoryAttributes: attributes)
        checkActivation(
          plan, [activation.tcr.value, activation.mair.value, activation.ttbr0, activation.ttbr1])
        configureEL1MMU(
          activation.mair.value, activation.tcr.value, activation.ttbr0, activation.ttbr1)
        enableEL1MMU()
      } catch {
        Console.write("PTERROR activation\n")
      }
    }
  }
}

/// TLB maintenance with TLBI by address (VAE1IS, or VALE1IS when only leaves
/// changed), then DSB and ISB, as the engine's gather asks for it.
struct MachineTLB: TLBInvalidator {
  mutating func invalidateAll() { invalidateWholeTLB() }

  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    guard size / granule <= 64 else { return invalidateWholeTLB() }
    var address = start
    while address &- start < size {
      invalidateTLBEntry(address, leafOnly ? 1 : 0)
      address &+= granule
    }
    synchronizeTLB()
  }
}
