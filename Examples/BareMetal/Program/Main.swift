import PageTables

// The guest program. QEMU loads it with a plan from the host (see Plan.swift) and
// runs it on an emulated CPU whose MMU is the judge:
//
// - prebuilt mode: the host built the tables with the library and QEMU loaded
//   them; the program turns translation on with them and probes addresses.
// - engine mode: the program links the engine, builds its own tables in RAM
//   (an identity map of itself and the test mappings), turns the MMU on, probes,
//   unmaps with real TLB invalidation instructions and probes again.
//
// Every probe prints one line `=` followed by one token per access kind
// (`p<PAR>`, `v<value loaded>`, `w` stored, `f<cause>@<address>` faulted) and, in
// engine mode, `t<physical address>` or `t-`: what the engine's `translate` said.

@_cdecl("guest_main")
func guestMain() -> Int32 {
  Console.write("PTGUEST ")
  Console.write(Machine.name)
  Console.write("\n")
  guard let plan = Plan(at: Machine.planAddress), let mode = plan.mode else {
    Console.write("PTERROR no plan loaded\n")
    return 2
  }
  switch mode {
  case .prebuilt: runPrebuilt(plan)
  case .engine: Machine.runEngine(plan)
  }
  Console.write("PTDONE\n")
  return 0
}

/// Runs a plan whose tables the host built.
func runPrebuilt(_ plan: Plan) {
  for index in 0..<plan.stepCount {
    let step = plan.step(index)
    switch step.operation {
    case .tag: Machine.writePhysical(step.a, step.b)
    case .activate: Machine.activatePrebuilt(plan)
    case .probe: probe(step, engine: false, translation: nil)
    case .haltForDump: haltForDump(root: plan.root)
    default:
      Console.write("PTERROR step needs the engine\n")
    }
  }
}

/// Builds tables with the engine in the machine's own RAM and runs the plan on them.
/// `activate` points the MMU at a root table and turns translation on.
func runWithEngine<Format: PageTableFormat>(
  _ plan: Plan, format: Format, activate: (UInt64) -> Void
) {
  guard let storage = unsafe UnsafeMutableRawPointer(bitPattern: UInt(plan.tableBase)) else {
    return
  }
  let byteCount = Int(plan.tableBytes)
  // SAFETY: the plan reserves [tableBase, tableBase + tableBytes) of RAM for tables;
  // nothing else in the program uses it, and it is identity mapped once the MMU is on.
  unsafe storage.initializeMemory(as: UInt64.self, repeating: 0, count: byteCount / 8)
  let memory: ImageTableMemory
  do {
    memory = try unsafe ImageTableMemory(
      base: plan.tableBase, byteCount: byteCount, storage: storage)
  } catch {
    Console.write("PTERROR bad table region\n")
    return
  }
  let table: PageTable<Format, ImageTableMemory>
  do {
    table = try PageTable(format: format, memory: memory)
  } catch {
    Console.write("PTERROR no table memory\n")
    return
  }
  for index in 0..<plan.stepCount {
    let step = plan.step(index)
    switch step.operation {
    case .map:
      do {
        try table.map(
          virtualAddress: step.a, physicalAddress: step.b, size: step.c,
          protection: Protection(planBits: step.d))
        Machine.afterMap(virtualAddress: step.a, size: step.c)
      } catch {
        report(error, step: index)
      }
    case .identityMap:
      do {
        try IdentityMap(table: table).map(
          step.a, size: step.c, protection: Protection(planBits: step.d))
        Machine.afterMap(virtualAddress: step.a, size: step.c)
      } catch {
        report(error, step: index)
      }
    case .unmap:
      var gather = TLBGather(invalidator: MachineTLB())
      do {
        try table.unmap(virtualAddress: step.a, size: step.b, gather: &gather)
      } catch {
        report(error, step: index)
      }
      table.flush(&gather)
    case .unmapWithoutInvalidation:
      var gather = TLBGather(invalidator: NoInvalidation())
      do {
        try table.unmap(virtualAddress: step.a, size: step.b, gather: &gather)
      } catch {
        report(error, step: index)
      }
      table.flush(&gather)
    case .invalidateAll:
      var tlb = MachineTLB()
      tlb.invalidateAll()
    case .tag:
      Machine.writePhysical(step.a, step.b)
    case .activate:
      activate(table.rootAddress())
    case .probe:
      probe(step, engine: true, translation: table.translate(step.a))
    case .haltForDump:
      withExtendedLifetime(table) { haltForDump(root: table.rootAddress()) }
    case nil:
      Console.write("PTERROR unknown step\n")
    }
  }
  // The MMU still uses these tables: end here, so they are never torn down.
  withExtendedLifetime(table) {
    Console.write("PTDONE\n")
    Machine.exit(0)
  }
}

/// Says where the tables are and waits for the host to dump memory (QEMU's
/// `dump-guest-memory` or `pmemsave`); the host ends QEMU, so this never returns.
func haltForDump(root: UInt64) -> Never {
  Console.write("PTHALT ")
  Console.hex(root)
  Console.write("\n")
  while true {}
}

/// What one access of a probe found.
enum ProbeResult {
  /// An address-translation instruction's answer (ARM `PAR_EL1`).
  case translated(UInt64)
  /// A load returned this value.
  case loaded(UInt64)
  /// A store completed.
  case stored
  /// The access faulted with this cause (ESR, `mcause`, vector and error code) at
  /// this address.
  case fault(code: UInt64, address: UInt64)

  func write() {
    switch self {
    case .translated(let value):
      Console.write("p")
      Console.hex(value)
    case .loaded(let value):
      Console.write("v")
      Console.hex(value)
    case .stored:
      Console.write("w")
    case .fault(let code, let address):
      Console.write("f")
      Console.hex(code)
      Console.write("@")
      Console.hex(address)
    }
  }
}

/// Probes one address with each access kind the step asks for and prints the line.
func probe(_ step: Plan.Step, engine: Bool, translation: Translation?) {
  Console.write("=")
  for kind in 0..<8 where step.b & (1 << UInt64(kind)) != 0 {
    Console.write(" ")
    Machine.probe(step.a, kind: kind, storeValue: step.c).write()
  }
  if engine {
    if let translation {
      Console.write(" t")
      Console.hex(translation.physicalAddress)
    } else {
      Console.write(" t-")
    }
  }
  Console.write("\n")
}

/// Compares the activation values the guest's engine computed with the ones the
/// host put in the plan (the same API on both sides), reporting a difference.
func checkActivation(_ plan: Plan, _ values: [UInt64]) {
  for (index, value) in values.enumerated() where plan.register(index) != value {
    Console.write("PTERROR activation register ")
    Console.hex(UInt64(index))
    Console.write(" computed ")
    Console.hex(value)
    Console.write(" plan ")
    Console.hex(plan.register(index))
    Console.write("\n")
  }
}

func report(_ error: PageTableError, step: Int) {
  Console.write("PTERROR step ")
  Console.hex(UInt64(step))
  Console.write(" failed\n")
}

/// A TLB invalidator that does nothing: unmapping with it leaves stale translations,
/// which is what the plan's control experiment shows.
struct NoInvalidation: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}
