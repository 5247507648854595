import PageTables
import _Volatile

// The riscv64 side of the guest: the NS16550 UART, turning translation on, the
// TLB (SFENCE.VMA) and the probes. Memory (QEMU virt, 4 GiB of RAM): the program at
// 0x8000_0000, the host's plan at 0x8100_0000, prebuilt tables at 0x8200_0000,
// engine tables at 0x8400_0000, probe targets from 0xC000_0000.

@_extern(c, "machine_exit") func machineExit(_ status: Int32)
@_extern(c, "probe_m_load")
func probeMachineLoad(_ address: UInt64, _ mode: UInt64, _ fault: UnsafeMutablePointer<UInt64>)
  -> UInt64
@_extern(c, "probe_m_store")
func probeMachineStore(
  _ address: UInt64, _ value: UInt64, _ fault: UnsafeMutablePointer<UInt64>, _ mode: UInt64)
@_extern(c, "probe_s_load")
func probeSupervisorLoad(_ address: UInt64, _ unused: UInt64, _ fault: UnsafeMutablePointer<UInt64>)
  -> UInt64
@_extern(c, "probe_s_store")
func probeSupervisorStore(
  _ address: UInt64, _ value: UInt64, _ fault: UnsafeMutablePointer<UInt64>)
@_extern(c, "set_satp_machine") func setSATPFromMachineMode(_ satp: UInt64)
@_extern(c, "set_menvcfg") func setEnvironmentConfiguration(_ menvcfg: UInt64)
@_extern(c, "set_satp") func setSATP(_ satp: UInt64)
@_extern(c, "sfence_page") func sfencePage(_ address: UInt64)
@_extern(c, "sfence_all") func sfenceAll()
@_extern(c, "enter_supervisor") func enterSupervisor(_ entry: @convention(c) () -> Void)

enum Machine {
  static var name: StaticString { "riscv64" }
  static var planAddress: UInt64 { 0x8100_0000 }

  /// Writes a byte to the UART's transmit register.
  static func putByte(_ byte: UInt8) {
    unsafe VolatileMappedRegister<UInt8>(unsafeBitPattern: 0x1000_0000).store(byte)
  }

  static func exit(_ status: Int32) -> Never {
    machineExit(status)
    while true {}
  }

  static func writePhysical(_ address: UInt64, _ value: UInt64) {
    unsafe UnsafeMutablePointer<UInt64>(bitPattern: UInt(address))!.pointee = value
  }

  /// Prebuilt tables: the plan's activation values as given: the `menvcfg` bits
  /// (register 1), then `satp` (register 0) for the loads and stores that MPRV
  /// translates.
  static func activatePrebuilt(_ plan: Plan) {
    setEnvironmentConfiguration(plan.register(1))
    setSATPFromMachineMode(plan.register(0))
  }

  /// New entries are visible to the walker after an SFENCE.VMA (the privileged
  /// spec lets a hart cache invalid entries).
  static func afterMap(virtualAddress: UInt64, size: UInt64) {
    sfenceAll()
  }

  /// Access kinds: 0 S-mode load, 1 S-mode store, 2 U-mode load, 3 U-mode store
  /// (M-mode with MPRV); 4 load and 5 store from S-mode itself.
  static func probe(_ address: UInt64, kind: Int, storeValue: UInt64) -> ProbeResult {
    var fault: (UInt64, UInt64) = (0, 0)
    let aligned = address & ~7
    return unsafe withUnsafeMutablePointer(to: &fault) { pointer in
      let record = unsafe UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt64.self)
      var value: UInt64 = 0
      var stored = false
      switch kind {
      case 0, 2: value = unsafe probeMachineLoad(aligned, kind == 0 ? 1 : 0, record)
      case 1, 3:
        unsafe probeMachineStore(aligned, storeValue, record, kind == 1 ? 1 : 0)
        stored = true
      case 4: value = unsafe probeSupervisorLoad(aligned, 0, record)
      default:
        unsafe probeSupervisorStore(aligned, storeValue, record)
        stored = true
      }
      if unsafe record[0] != 0 {
        return unsafe .fault(code: record[0], address: record[1])
      }
      return stored ? .stored : .loaded(value)
    }
  }

  /// Engine mode runs in S-mode, as an operating system would; `menvcfg` (plan
  /// register 1) is machine-mode state, loaded before leaving M-mode.
  static func runEngine(_ plan: Plan) {
    setEnvironmentConfiguration(plan.register(1))
    enterSupervisor(supervisorMain)
  }
}

/// The program's S-mode entry: build tables with the engine and probe with them.
/// The configuration word is the virtual-address size (39, 48, 57) plus flags:
/// bit 8 Svnapot, bit 9 Svpbmt.
@_cdecl("supervisor_main")
func supervisorMain() {
  guard let plan = Plan(at: Machine.planAddress) else { Machine.exit(2) }
  let configuration = plan.configuration
  let mode: RISCVFormat.Mode
  switch configuration & 0xFF {
  case 39: mode = .sv39
  case 48: mode = .sv48
  default: mode = .sv57
  }
  let format = RISCVFormat(
    mode, svnapot: configuration & 0x100 != 0, svpbmt: configuration & 0x200 != 0)
  runWithEngine(plan, format: format) { root in
    do throws(PageTableError) {
      // The ASID comes from the plan's satp (bits 59:44).
      let activation = try format.activation(
        rootAddress: root, asid: UInt16(truncatingIfNeeded: plan.register(0) >> 44))
      checkActivation(plan, [activation.satp, activation.menvcfg])
      setSATP(plan.register(0))
    } catch {
      Console.write("PTERROR activation\n")
    }
  }
  Machine.exit(4)
}

/// TLB invalidation with SFENCE.VMA, as the engine's gather asks for it.
struct MachineTLB: TLBInvalidator {
  mutating func invalidateAll() { sfenceAll() }

  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    // One SFENCE.VMA per leaf; it also drops cached non-leaf entries for the
    // address, so freed tables are covered too. Large ranges: flush everything.
    guard size / granule <= 64 else { return sfenceAll() }
    var address = start
    while address &- start < size {
      sfencePage(address)
      address &+= granule
    }
  }
}
