import Foundation
import PageTables

/// The memory a bare-metal guest leaves in QEMU after its own engine built its
/// page tables, dumped through QEMU's monitor — with the mappings the guest was
/// asked to build, for checking that `pgtable dump` recovers exactly those.
///
/// ```swift
/// let dump = try GuestMemoryDump.make(
///   GuestMemoryDump.configuration(for: .x86_64), file: .elfCore, seed: 1, directory: folder)
/// // pgtable dump <dump.file>            (CR3 from the core's QEMU note)
/// dump.expected                           // the plan's maps minus its unmaps
/// ```
///
/// The guest (`Examples/BareMetal`) runs an engine-mode conformance plan without
/// its probes: it maps, unmaps with its TLB instructions, turns translation on,
/// then prints `PTHALT <root>` and waits. The host stops the machine over QMP and
/// writes its RAM from the start through the guest's table memory, as an ELF core
/// (`dump-guest-memory`, whose x86-64 notes carry CR3) or raw (`pmemsave`).
public struct GuestMemoryDump: Sendable {
  /// How QEMU writes the memory.
  public enum FileKind: String, Sendable, CaseIterable {
    /// An ELF core from `dump-guest-memory` (PT_LOAD segments by physical address,
    /// the CPU state in the notes).
    case elfCore = "ELF core"
    /// Raw bytes from `pmemsave`, the first at ``GuestMemoryDump/base``.
    case raw
  }

  /// The machine the guest ran on.
  public let machine: GuestMachine
  /// The dump.
  public let file: URL
  /// What kind of file ``file`` is.
  public let kind: FileKind
  /// The root table's physical address, as the guest printed it.
  public let root: UInt64
  /// The physical address of the dump's first byte (the machine's RAM start).
  public let base: UInt64
  /// Bytes of physical memory dumped.
  public let byteCount: UInt64
  /// The tables' format as `pgtable --format` spells it.
  public let format: String
  /// The mappings the guest's tables must hold, from the plan's steps alone
  /// (``GuestPlan/mappingsLeft()``), in virtual-address order.
  public let expected: [MappingRun]
  /// What the guest printed on its UART.
  public let uart: String

  /// The guest-engine configuration dumped for `architecture`: ARM64 4K with
  /// 48-bit inputs, x86-64 with 4 levels, RISC-V Sv48 with Svnapot and Svpbmt.
  public static func configuration(for architecture: GuestMachine.Architecture)
    -> ConformanceConfiguration
  {
    switch architecture {
    case .aarch64: .arm64Engine(granule: .k4)
    case .x86_64: .x86(levels: 4, way: .guestEngine)
    case .riscv64: .riscv(.sv48, way: .guestEngine)
    }
  }

  /// Runs `configuration`'s guest (which must be a ``ConformanceConfiguration/Way/guestEngine``
  /// one) with the plan made from `seed`, and dumps its memory into `directory`.
  ///
  /// - Parameters:
  ///   - configuration: a guest-engine configuration (``configuration(for:)``).
  ///   - kind: how QEMU writes the memory.
  ///   - seed: the seed the configuration's random plan is made from.
  ///   - directory: where the plan, the UART output, QEMU's log and the dump go.
  ///   - packageRoot: the checkout holding `Examples/BareMetal` and `.build-guest`.
  ///   - timeout: seconds the whole run may take (the guest build not included).
  /// - Throws: ``GuestDumpError`` when QEMU is missing, the guest cannot be built,
  ///   stops early, reports an error, or the monitor refuses the dump.
  public static func make(
    _ configuration: ConformanceConfiguration, file kind: FileKind, seed: UInt64,
    directory: URL, packageRoot: URL = ConformanceSuite.defaultPackageRoot,
    timeout: TimeInterval = 60
  ) throws(GuestDumpError) -> GuestMemoryDump {
    let machine = configuration.machine
    guard configuration.way == .guestEngine else {
      throw .notEngineMode(configuration.fullName)
    }
    guard let qemu = ProcessRunner.find(machine.qemuBinary) else {
      throw .qemuMissing(machine.qemuBinary)
    }
    if let problem = ConformanceSuite.buildGuest(
      machine.architecture, packageRoot: packageRoot, timeout: 600)
    {
      throw .guestBuildFailed(problem)
    }
    var plan: GuestPlan
    do {
      plan = try configuration.prepare(seed).plan
    } catch {
      throw .plan("\(error)")
    }
    // The tables as the plan leaves them; no probes, so nothing to tag.
    plan.steps.removeAll { $0.operation == .probe || $0.operation == .tag }
    plan.add(.haltForDump)
    let name = "\(machine.architecture.rawValue)-\(kind == .raw ? "ram.bin" : "ram.core")"
    let output = directory.appendingPathComponent(name)
    let base = machine.ramStart
    let byteCount = machine.engineTableBase + machine.engineTableBytes - base
    let session = try QEMUSession.start(
      qemu, machine: machine, plan: plan, directory: directory, packageRoot: packageRoot,
      timeout: timeout)
    defer { session.end() }
    let root = try session.waitForHalt()
    try session.dump(kind, to: output, base: base, byteCount: byteCount)
    return GuestMemoryDump(
      machine: machine, file: output, kind: kind, root: root, base: base, byteCount: byteCount,
      format: plan.formatText(for: machine.architecture), expected: plan.mappingsLeft(),
      uart: session.uart)
  }
}

/// Why a guest's memory could not be dumped.
public enum GuestDumpError: Error, CustomStringConvertible {
  /// The QEMU binary the machine needs is not installed.
  case qemuMissing(String)
  /// `Examples/BareMetal/build.sh` failed.
  case guestBuildFailed(String)
  /// Only guest-engine configurations build their tables in the guest.
  case notEngineMode(String)
  /// The configuration could not make its plan.
  case plan(String)
  /// Files for the run could not be written.
  case files(String)
  /// The guest stopped, reported an error or never halted; its UART output.
  case guest(String)
  /// QEMU's monitor (QMP) refused a command or went away.
  case monitor(String)

  public var description: String {
    switch self {
    case .qemuMissing(let name): "\(name) is not installed: run Scripts/install-qemu.sh"
    case .guestBuildFailed(let output): "building the bare-metal guest failed:\n\(output)"
    case .notEngineMode(let name): "\(name) is not a guest-engine configuration"
    case .plan(let message): "the plan could not be made: \(message)"
    case .files(let message): "run files: \(message)"
    case .guest(let message): "the guest did not halt for the dump: \(message)"
    case .monitor(let message): "QEMU monitor: \(message)"
    }
  }
}

/// One QEMU process running a guest, with its QMP connection on standard
/// input and output and its UART in a file.
final class QEMUSession {
  let process: Process
  let qmp: QMPConnection
  let uartFile: URL
  let deadline: Date

  init(process: Process, qmp: QMPConnection, uartFile: URL, deadline: Date) {
    self.process = process
    self.qmp = qmp
    self.uartFile = uartFile
    self.deadline = deadline
  }

  /// What the guest has printed so far.
  var uart: String { (try? String(contentsOf: uartFile, encoding: .utf8)) ?? "" }

  /// Starts QEMU on `plan` with QMP on its standard input and output; a watchdog
  /// ends it after `timeout` seconds whatever happens.
  static func start(
    _ qemu: String, machine: GuestMachine, plan: GuestPlan, directory: URL, packageRoot: URL,
    timeout: TimeInterval
  ) throws(GuestDumpError) -> QEMUSession {
    let prefix = machine.architecture.rawValue
    let planFile = directory.appendingPathComponent("\(prefix)-plan.bin")
    let uartFile = directory.appendingPathComponent("\(prefix)-uart.txt")
    let logFile = directory.appendingPathComponent("\(prefix)-qemu.log")
    let process = Process()
    let toQEMU = Pipe()
    let fromQEMU = Pipe()
    do {
      try Data(plan.encoded()).write(to: planFile)
      _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
      process.standardError = try FileHandle(forWritingTo: logFile)
    } catch {
      throw .files("\(error)")
    }
    process.executableURL = URL(fileURLWithPath: qemu)
    process.arguments =
      machine.qemuArguments(
        guest: machine.guestProgram(packageRoot: packageRoot).path, plan: planFile.path,
        image: nil, output: uartFile.path, hypervisor: false) + ["-qmp", "stdio"]
    process.standardInput = toQEMU
    process.standardOutput = fromQEMU
    do {
      try process.run()
    } catch {
      throw .monitor("cannot start \(qemu): \(error)")
    }
    let deadline = Date().addingTimeInterval(timeout)
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [process] in
      if process.isRunning { process.terminate() }
    }
    do {
      let qmp = try QMPConnection(
        toQEMU: toQEMU.fileHandleForWriting, fromQEMU: fromQEMU.fileHandleForReading)
      return QEMUSession(process: process, qmp: qmp, uartFile: uartFile, deadline: deadline)
    } catch {
      if process.isRunning { process.terminate() }
      process.waitUntilExit()
      throw error
    }
  }

  /// Waits until the guest prints `PTHALT <root>` and returns the root; fails on
  /// `PTERROR`/`PTCRASH`, an early exit, or the deadline.
  func waitForHalt() throws(GuestDumpError) -> UInt64 {
    while Date() < deadline {
      let text = uart
      for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
        if line.hasPrefix("PTERROR") || line.hasPrefix("PTCRASH") { throw .guest(text) }
        if line.hasPrefix("PTHALT "), let root = UInt64(line.dropFirst(7), radix: 16) {
          return root
        }
      }
      guard process.isRunning else {
        throw .guest("QEMU exited with status \(process.terminationStatus): \(text)")
      }
      Thread.sleep(forTimeInterval: 0.02)
    }
    throw .guest("no PTHALT before the deadline: \(uart)")
  }

  /// Stops the machine and writes `byteCount` bytes of physical memory from `base`.
  func dump(_ kind: GuestMemoryDump.FileKind, to file: URL, base: UInt64, byteCount: UInt64)
    throws(GuestDumpError)
  {
    try? FileManager.default.removeItem(at: file)
    try qmp.execute("stop")
    switch kind {
    case .elfCore:
      try qmp.execute(
        "dump-guest-memory",
        [
          "paging": false, "protocol": "file:\(file.path)", "begin": base, "length": byteCount,
        ])
    case .raw:
      try qmp.execute("pmemsave", ["val": base, "size": byteCount, "filename": file.path])
    }
  }

  /// Ends QEMU (`quit`, or a signal if the monitor is gone) and waits for it.
  func end() {
    if process.isRunning { _ = try? qmp.execute("quit") }
    let limit = Date().addingTimeInterval(5)
    while process.isRunning && Date() < limit { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
  }
}
