import PageTables

// The x86_64 side of the guest: the COM1 UART, CR3, the TLB (INVLPG) and the
// probes. Memory (QEMU pc, 3 GiB of RAM from 0): the program at 0x10_0000, the
// host's plan at 0x100_0000, prebuilt tables at 0x200_0000, engine tables at
// 0x400_0000, probe targets from 0x4000_0000. The start stub's identity map of the
// first 4 GiB is in use until the plan activates its own tables, which must map
// the program (the host's and the engine's plans identity map RAM).

@_extern(c, "debug_exit") func debugExit(_ status: Int32)
@_extern(c, "probe_load")
func probeLoad(_ address: UInt64, _ unused: UInt64, _ fault: UnsafeMutablePointer<UInt64>)
  -> UInt64
@_extern(c, "probe_store")
func probeStore(_ address: UInt64, _ value: UInt64, _ fault: UnsafeMutablePointer<UInt64>)
@_extern(c, "probe_load_smap")
func probeLoadWithSMAP(_ address: UInt64, _ unused: UInt64, _ fault: UnsafeMutablePointer<UInt64>)
  -> UInt64
@_extern(c, "write_cr3") func writeCR3(_ value: UInt64)
@_extern(c, "set_control_bits")
func setControlBits(_ cr4: UInt64, _ efer: UInt64, _ cr0: UInt64, _ pat: UInt64)
@_extern(c, "invlpg") func invalidatePage(_ address: UInt64)
@_extern(c, "flush_tlb") func flushTLB()
@_extern(c, "port_out8") func portOut8(_ port: UInt32, _ value: UInt32)

enum Machine {
  static var name: StaticString { "x86_64" }
  static var planAddress: UInt64 { 0x100_0000 }

  /// Writes a byte to COM1's transmit register.
  static func putByte(_ byte: UInt8) { portOut8(0x3F8, UInt32(byte)) }

  static func exit(_ status: Int32) -> Never {
    debugExit(status)
    while true {}
  }

  static func writePhysical(_ address: UInt64, _ value: UInt64) {
    unsafe UnsafeMutablePointer<UInt64>(bitPattern: UInt(address))!.pointee = value
  }

  /// Prebuilt tables: the plan's activation values, loaded as given: CR3 (register
  /// 0), the CR4, IA32_EFER and CR0 bits to set (1–3; LA57 was already set by the
  /// stub from the plan's boot flags, since it only changes with paging off) and
  /// IA32_PAT (4).
  static func activatePrebuilt(_ plan: Plan) { load(plan) }

  static func load(_ plan: Plan) {
    setControlBits(plan.register(1), plan.register(2), plan.register(3), plan.register(4))
    writeCR3(plan.register(0))
  }

  /// x86 never caches a not-present entry: nothing to do after a map.
  static func afterMap(virtualAddress: UInt64, size: UInt64) {}

  /// Access kinds: 0 load and 1 store with EFLAGS.AC set (allowed on user pages),
  /// 2 load with AC clear (SMAP faults on user pages), all at CPL 0 with CR0.WP.
  static func probe(_ address: UInt64, kind: Int, storeValue: UInt64) -> ProbeResult {
    var fault: (UInt64, UInt64) = (0, 0)
    let aligned = address & ~7
    return unsafe withUnsafeMutablePointer(to: &fault) { pointer in
      let record = unsafe UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt64.self)
      var result = ProbeResult.stored
      switch kind {
      case 0: result = .loaded(unsafe probeLoad(aligned, 0, record))
      case 1: unsafe probeStore(aligned, storeValue, record)
      default: result = .loaded(unsafe probeLoadWithSMAP(aligned, 0, record))
      }
      if unsafe record[0] != 0 {
        return unsafe .fault(code: record[0], address: record[1])
      }
      return result
    }
  }

  /// Engine mode: the configuration word is the number of levels (4 or 5; the stub
  /// set LA57 from the plan's boot flags).
  static func runEngine(_ plan: Plan) {
    let format: X86_64Format
    do throws(PageTableError) {
      format = try X86_64Format(levels: Int(plan.configuration))
    } catch {
      Console.write("PTERROR configuration\n")
      return
    }
    runWithEngine(plan, format: format) { root in
      do throws(PageTableError) {
        // The PCID comes from the plan's CR3 (bits 11:0).
        let activation = try format.activation(
          rootAddress: root, pcid: UInt16(truncatingIfNeeded: plan.register(0) & 0xFFF))
        checkActivation(
          plan, [activation.cr3, activation.cr4, activation.efer, activation.cr0, activation.pat])
        load(plan)
      } catch {
        Console.write("PTERROR activation\n")
      }
    }
  }
}

/// TLB invalidation with INVLPG per leaf (it also drops the paging-structure
/// caches, so freed tables are covered), or a CR3 reload for everything.
struct MachineTLB: TLBInvalidator {
  mutating func invalidateAll() { flushTLB() }

  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    guard size / granule <= 64 else { return flushTLB() }
    var address = start
    while address &- start < size {
      invalidatePage(address)
      address &+= granule
    }
  }
}
