import Foundation
import PageTables
import Synchronization

/// Checks that the tables the library builds are the tables hardware reads, with
/// QEMU's MMU emulation as the judge.
///
/// For each ``ConformanceConfiguration`` it makes a random mapping set with the
/// library, runs the bare-metal guest (`Examples/BareMetal`) in QEMU — on tables
/// the host built, or on tables the guest's own engine built — and compares what
/// every probed access found with the library's `translate`.
///
/// ```swift
/// let summary = try ConformanceSuite.run(ConformanceOptions()) { print($0) }
/// print(summary.report)          // configurations, addresses probed, mismatches
/// ```
public enum ConformanceSuite {
  /// The QEMU binaries the suite needs that are not on `PATH`.
  public static func missingQEMU() -> [String] {
    GuestMachine.Architecture.allCases.map { "qemu-system-\($0.rawValue)" }
      .filter { ProcessRunner.find($0) == nil }
  }

  /// The package's root directory, found from this source file's location.
  public static var defaultPackageRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
  }

  /// The configurations whose name or way contains `filter` (case-insensitive), or
  /// all of them for `nil`.
  ///
  /// - Throws: ``ConformanceError/noConfigurationMatches(filter:known:)`` when
  ///   nothing matches, naming every configuration there is.
  public static func configurations(matching filter: String?) throws(ConformanceError)
    -> [ConformanceConfiguration]
  {
    let all = ConformanceConfiguration.all
    guard let filter else { return all }
    let matching = all.filter { $0.fullName.localizedCaseInsensitiveContains(filter) }
    guard !matching.isEmpty else {
      throw .noConfigurationMatches(filter: filter, known: all.map(\.fullName))
    }
    return matching
  }

  /// Runs the suite. `log` receives progress lines.
  public static func run(_ options: ConformanceOptions, log: (String) -> Void) throws
    -> ConformanceSummary
  {
    let start = Date()
    let configurations = try configurations(matching: options.filter)
    let missing = missingQEMU()
    guard missing.isEmpty else {
      throw ConformanceError.qemuMissing(missing)
    }
    let architectures = Set(configurations.map { $0.machine.architecture })
    let buildErrors = Mutex<[String]>([])
    let archList = GuestMachine.Architecture.allCases.filter { architectures.contains($0) }
    DispatchQueue.concurrentPerform(iterations: archList.count) { index in
      let architecture = archList[index]
      if let problem = buildGuest(
        architecture, packageRoot: options.packageRoot, timeout: options.buildTimeout)
      {
        buildErrors.withLock { $0.append(problem) }
      }
    }
    let errors = buildErrors.withLock { $0 }
    guard errors.isEmpty else {
      throw ConformanceError.guestBuildFailed(errors.joined(separator: "\n"))
    }
    log(
      "built guests for \(archList.map(\.rawValue).joined(separator: ", ")) in \(seconds(since: start))"
    )

    let jobs = options.seeds.flatMap { seed in configurations.map { ($0, seed) } }
    let results = Mutex([ConformanceResult?](repeating: nil, count: jobs.count))
    DispatchQueue.concurrentPerform(iterations: jobs.count) { index in
      let (configuration, seed) = jobs[index]
      let result = runOne(configuration, seed: seed, options: options)
      results.withLock { $0[index] = result }
    }
    let finished = results.withLock { $0.compactMap { $0 } }
    return ConformanceSummary(
      results: finished, seconds: Date().timeIntervalSince(start), qemuVersion: qemuVersion())
  }

  /// Builds the bare-metal guest for `architecture` (`Examples/BareMetal/build.sh`,
  /// which does nothing when it is up to date); returns why it failed, or nil.
  static func buildGuest(
    _ architecture: GuestMachine.Architecture, packageRoot: URL, timeout: TimeInterval
  ) -> String? {
    let builder = packageRoot.appendingPathComponent("Examples/BareMetal/build.sh")
    do {
      let outcome = try ProcessRunner.run(
        "/bin/sh", [builder.path, architecture.rawValue], timeout: timeout,
        currentDirectory: packageRoot)
      guard outcome.status != 0 || outcome.timedOut else { return nil }
      return "\(architecture.rawValue): \(outcome.output.suffix(2000))"
    } catch {
      return "\(architecture.rawValue): \(error)"
    }
  }

  static func seconds(since start: Date) -> String {
    String(format: "%.1f s", Date().timeIntervalSince(start))
  }

  static func qemuVersion() -> String {
    guard let qemu = ProcessRunner.find("qemu-system-aarch64"),
      let outcome = try? ProcessRunner.run(qemu, ["--version"], timeout: 10)
    else { return "unknown" }
    return outcome.output.split(separator: "\n").first.map(String.init) ?? "unknown"
  }

  /// Prepares, runs and checks one configuration with one seed.
  static func runOne(
    _ configuration: ConformanceConfiguration, seed: UInt64,
    options: ConformanceOptions
  ) -> ConformanceResult {
    let start = Date()
    var result = ConformanceResult(configuration: configuration, seed: seed)
    do {
      let prepared = try configuration.prepare(seed)
      result.mappings = prepared.mappings
      result.holes = prepared.holes
      result.leafSizes = prepared.leafSizes
      result.contiguousLeaves = prepared.contiguousLeaves
      result.protections = prepared.protections
      result.softwareBitProtections = prepared.softwareBitProtections
      result.indexedProtections = prepared.indexedProtections
      result.unaccessedProtections = prepared.unaccessedProtections
      result.unmapChecks = prepared.unmapChecks
      result.protects = prepared.protects
      let slug = "\(configuration.name)-\(configuration.way.rawValue)-\(seed)"
        .map { $0.isLetter || $0.isNumber ? $0 : "-" }
      let directory = options.packageRoot.appendingPathComponent(
        ".build-guest/runs/\(String(slug))")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      try prepared.description.write(
        to: directory.appendingPathComponent("mappings.txt"), atomically: true, encoding: .utf8)
      let planFile = directory.appendingPathComponent("plan.bin")
      try Data(prepared.plan.encoded()).write(to: planFile)
      var imagePath: String?
      if let image = prepared.image {
        let imageFile = directory.appendingPathComponent("image.bin")
        try Data(image).write(to: imageFile)
        imagePath = imageFile.path
      }
      let outputFile = directory.appendingPathComponent("uart.txt")
      try? FileManager.default.removeItem(at: outputFile)
      let machine = configuration.machine
      let guest = machine.guestProgram(packageRoot: options.packageRoot)
      let arguments = machine.qemuArguments(
        guest: guest.path, plan: planFile.path, image: imagePath, output: outputFile.path,
        hypervisor: prepared.hypervisor)
      guard let qemu = ProcessRunner.find(machine.qemuBinary) else {
        throw ConformanceError.qemuMissing([machine.qemuBinary])
      }
      let outcome = try ProcessRunner.run(qemu, arguments, timeout: options.runTimeout)
      let uart = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
      try? (arguments.joined(separator: " ") + "\n").write(
        to: directory.appendingPathComponent("command.txt"), atomically: true, encoding: .utf8)
      if outcome.timedOut {
        result.failures.append("QEMU timed out after \(Int(options.runTimeout)) s")
      } else if machine.guestStatus(fromQEMUStatus: outcome.status) != 0 {
        result.failures.append(
          "guest exit status \(outcome.status): \(outcome.output.prefix(500))")
      }
      check(uart, against: prepared, architecture: machine.architecture, into: &result)
      if !result.failures.isEmpty || !result.mismatches.isEmpty {
        result.failures.append("run files: \(directory.path)")
      }
    } catch {
      result.failures.append("\(error)")
    }
    result.seconds = Date().timeIntervalSince(start)
    return result
  }

  /// Compares the guest's output with the expectations.
  static func check(
    _ uart: String, against prepared: PreparedRun, architecture: GuestMachine.Architecture,
    into result: inout ConformanceResult
  ) {
    var lines: [Substring] = []
    var done = false
    for line in uart.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
      if line.hasPrefix("=") {
        lines.append(line)
      } else if line.hasPrefix("PTDONE") {
        done = true
      } else if line.hasPrefix("PTERROR") || line.hasPrefix("PTCRASH") {
        result.failures.append("guest: \(line)")
      }
    }
    if !done { result.failures.append("the guest did not finish (no PTDONE)") }
    if lines.count != prepared.probes.count {
      result.failures.append(
        "the guest printed \(lines.count) probe lines, expected \(prepared.probes.count)")
    }
    let engine = prepared.plan.mode == .engine
    for (probe, line) in zip(prepared.probes, lines) {
      let tokens = line.dropFirst().split(separator: " ")
      let accessTokens = engine ? tokens.dropLast() : tokens[...]
      guard accessTokens.count == probe.kinds.count else {
        result.failures.append("probe \(hex(probe.address)): unreadable line \(line)")
        continue
      }
      switch probe.role {
      case .controlWithoutInvalidation:
        result.controlProbes += 1
        let stale = zip(probe.kinds, accessTokens).contains { kind, token in
          guard kind.mechanism != .addressTranslation else { return false }
          switch ObservedOutcome.decode(token, architecture: architecture) {
          case .loaded, .stored: return true
          default: return false
          }
        }
        if stale { result.staleTranslations += 1 }
        continue
      case .check:
        break
      }
      result.addresses += 1
      for (index, token) in accessTokens.enumerated() {
        result.accesses += 1
        let observed = ObservedOutcome.decode(token, architecture: architecture)
        if !observed.satisfies(probe.expected[index], address: probe.address & ~7) {
          result.mismatches.append(
            Mismatch(
              address: probe.address, label: probe.label, access: probe.kinds[index].name,
              expected: "\(probe.expected[index])", observed: "\(observed)",
              translation: probe.translation))
        }
      }
      if engine, let token = tokens.last {
        let expected = probe.translation.map { "t" + String($0.physicalAddress, radix: 16) } ?? "t-"
        if token != expected {
          result.mismatches.append(
            Mismatch(
              address: probe.address, label: probe.label, access: "guest engine translate",
              expected: expected, observed: String(token), translation: probe.translation))
        }
      }
    }
    if engine && result.controlProbes > 0 && result.staleTranslations == 0 {
      result.failures.append(
        "control experiment: no stale translation after unmapping without TLB invalidation, "
          + "so the TLB check could not have failed")
    }
  }

  static func hex(_ value: UInt64) -> String { Formatting.hex(value) }
}

/// How to run the suite.
public struct ConformanceOptions: Sendable {
  /// Random seeds; each runs every configuration once.
  public var seeds: [UInt64] = [1]
  /// Only configurations whose name or way contains this text.
  public var filter: String?
  /// The package checkout (for `Examples/BareMetal` and `.build-guest`).
  public var packageRoot: URL = ConformanceSuite.defaultPackageRoot
  /// Seconds one QEMU run may take.
  public var runTimeout: TimeInterval = 120
  /// Seconds one guest build may take.
  public var buildTimeout: TimeInterval = 600

  /// Options for one run of every configuration with seed 1, from this checkout.
  public init() {}
}

/// Why the suite could not run.
public enum ConformanceError: Error, CustomStringConvertible {
  /// These QEMU binaries are not installed.
  case qemuMissing([String])
  /// `Examples/BareMetal/build.sh` failed.
  case guestBuildFailed(String)
  /// No configuration's name or way contains the filter; `known` lists every
  /// configuration (name and way).
  case noConfigurationMatches(filter: String, known: [String])

  public var description: String {
    switch self {
    case .qemuMissing(let names):
      "QEMU not installed (\(names.joined(separator: ", "))): run Scripts/install-qemu.sh"
    case .guestBuildFailed(let output): "building the bare-metal guest failed:\n\(output)"
    case .noConfigurationMatches(let filter, let known):
      "no conformance configuration matches '\(filter)'; the configurations are:\n"
        + known.map { "  \($0)" }.joined(separator: "\n")
    }
  }
}

/// A probed access whose hardware result differs from the library's.
public struct Mismatch: Sendable, CustomStringConvertible {
  /// The probed virtual address.
  public let address: UInt64
  /// What the probe is, such as `first byte of 2 MiB leaf`.
  public let label: String
  /// The access kind, such as `AT S1E0W` or `load`.
  public let access: String
  /// What the library's tables say the hardware should do.
  public let expected: String
  /// What the hardware did.
  public let observed: String
  /// The library's translation of the address, or nil where nothing is mapped.
  public let translation: Translation?

  public var description: String {
    let mapping =
      translation.map {
        "library: -> \(Formatting.hex($0.physicalAddress)) \(Formatting.size($0.pageSize)) "
          + Formatting.protection($0.protection)
      } ?? "library: not mapped"
    return
      "\(Formatting.hex(address)) (\(label)) \(access): expected \(expected), hardware \(observed); \(mapping)"
  }
}

/// The outcome of one configuration with one seed.
public struct ConformanceResult: Sendable {
  /// The configuration's name, such as `ARM64 s1 4K ias48 oas48`.
  public let name: String
  /// Who built the tables: the host or the guest's engine.
  public let way: ConformanceConfiguration.Way
  /// What the probes check.
  public let probing: String
  /// The seed the random mapping set was made from.
  public let seed: UInt64
  /// Random test mappings made.
  public var mappings = 0
  /// Holes punched into the test mappings by unmaps.
  public var holes = 0
  /// Unmaps with TLB invalidation whose addresses were checked to fault (engine mode).
  public var unmapChecks = 0
  /// Ranges whose protection was changed in place by `protect` before the
  /// hardware probed them (host-built mode).
  public var protects = 0
  /// Leaf sizes in the finished tables.
  public var leafSizes: [UInt64] = []
  /// Leaves that are members of contiguous runs.
  public var contiguousLeaves = 0
  /// Distinct protections the mappings used.
  public var protections = 0
  /// Of those, protections with OS (software) bits, with a chosen attribute index,
  /// and with the access flag left clear: the hardware must treat them as the
  /// library says (OS bits ignored, the index's attribute reported by `AT`).
  public var softwareBitProtections = 0
  /// Protections with a chosen memory-attribute index.
  public var indexedProtections = 0
  /// Protections with the access flag left clear.
  public var unaccessedProtections = 0
  /// Addresses probed and compared.
  public var addresses = 0
  /// Individual accesses compared (an address is probed with several kinds).
  public var accesses = 0
  /// Accesses whose hardware result differs from the library's.
  public var mismatches: [Mismatch] = []
  /// Control probes after an unmap without TLB invalidation (some still translate
  /// through stale TLB entries: the TLB check is able to fail).
  public var controlProbes = 0
  /// Control probes that still translated after an unmap without invalidation.
  public var staleTranslations = 0
  /// Problems other than mismatches (a crash, a timeout, missing output).
  public var failures: [String] = []
  /// Wall-clock seconds the run took.
  public var seconds: Double = 0

  init(configuration: ConformanceConfiguration, seed: UInt64) {
    name = configuration.name
    way = configuration.way
    probing = configuration.probing
    self.seed = seed
  }

  /// Whether the run found no mismatch and no other failure.
  public var passed: Bool { mismatches.isEmpty && failures.isEmpty }

  /// One line for the report.
  public var line: String {
    var text =
      "\(name.padding(toLength: 34, withPad: " ", startingAt: 0)) "
      + "\(way.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) "
      + "\(String(addresses).leftPadded(6)) \(String(accesses).leftPadded(7)) "
      + "\(String(mismatches.count).leftPadded(5))"
    if !passed { text += "  FAILED" }
    return text
  }

  /// What the run covered: leaf sizes, runs, holes, protections, TLB checks.
  public var coverage: String {
    var text =
      "leaves \(leafSizes.map { Formatting.size($0).replacingOccurrences(of: " ", with: "") }.joined(separator: "/"))"
      + ", \(contiguousLeaves) in contiguous runs, \(mappings) mappings, \(holes) holes, "
      + "\(protections) protections (\(softwareBitProtections) with OS bits, "
      + "\(indexedProtections) with an attribute index, \(unaccessedProtections) not accessed)"
    if protects > 0 { text += ", \(protects) ranges protected in place" }
    if controlProbes > 0 {
      text +=
        ", \(unmapChecks) unmap+TLBI checks, control: \(staleTranslations)/\(controlProbes) stale without invalidation"
    }
    return text
  }
}

/// What a whole suite run found.
public struct ConformanceSummary: Sendable {
  /// One result per configuration and seed, in run order.
  public let results: [ConformanceResult]
  /// Wall-clock seconds of the whole run, guest builds included.
  public let seconds: Double
  /// The first line of `qemu-system-aarch64 --version`.
  public let qemuVersion: String

  /// How many distinct configurations (name and way) ran.
  public var configurations: Int { Set(results.map { "\($0.name) \($0.way)" }).count }
  /// Addresses probed, over every result.
  public var addresses: Int { results.reduce(0) { $0 + $1.addresses } }
  /// Accesses compared, over every result.
  public var accesses: Int { results.reduce(0) { $0 + $1.accesses } }
  /// Mismatches, over every result.
  public var mismatches: Int { results.reduce(0) { $0 + $1.mismatches.count } }
  /// Whether something ran and every result passed.
  public var passed: Bool { !results.isEmpty && results.allSatisfy(\.passed) }

  /// The summary table, then every mismatch and failure.
  public var report: String {
    var lines = [
      "QEMU conformance (\(qemuVersion))",
      "configuration                      way           probes accesses mism.",
    ]
    for result in results {
      lines.append(result.line)
      lines.append("    " + result.coverage)
    }
    for result in results where !result.passed {
      lines.append("\(result.name) (\(result.way.rawValue), seed \(result.seed)):")
      for failure in result.failures { lines.append("  \(failure)") }
      for mismatch in result.mismatches.prefix(20) { lines.append("  \(mismatch)") }
      if result.mismatches.count > 20 {
        lines.append("  … and \(result.mismatches.count - 20) more mismatches")
      }
    }
    lines.append(
      "configurations: \(configurations), runs: \(results.count), addresses probed: \(addresses) "
        + "(\(accesses) accesses), mismatches: \(mismatches), "
        + "time: \(String(format: "%.1f", seconds)) s — \(passed ? "PASSED" : "FAILED")")
    return lines.joined(separator: "\n")
  }
}

extension String {
  func leftPadded(_ width: Int) -> String {
    count >= width ? self : String(repeating: " ", count: width - count) + self
  }
}
