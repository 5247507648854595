import MMUModel
import PageTables
import Synchronization
import Testing

/// The engine's own operations follow every rule the checker knows, on every family.
@Suite struct EngineOperationTests {
  /// Runs the random driver and returns its reports.
  static func reports(_ family: ModelFamily, partialUnmaps: Bool, seed: UInt64) throws
    -> [MMUReport]
  {
    let found = Mutex<[MMUReport]>([])
    try family.run(
      RandomDriver(seed: seed, operations: 150, partialUnmaps: partialUnmaps) { reports in
        found.withLock { $0 = reports }
      })
    return found.withLock { $0 }
  }

  @Test(arguments: ModelFamily.all)
  func mapAndWholeUnmapsProduceNoReport(_ family: ModelFamily) throws {
    for seed: UInt64 in [1, 2] {
      let reports = try Self.reports(family, partialUnmaps: false, seed: seed)
      #expect(reports.isEmpty, "seed \(seed): \(reports.prefix(3))")
    }
  }
}

extension EngineOperationTests {
  /// Whether the engine on this branch still replaces live ARM64 blocks and runs
  /// without break-before-make: its ARM64 description does not declare Arm's rule,
  /// so it splits blocks and breaks runs in place (the model, holding ARM64 to Arm's
  /// rule, reports that). The engine-ops change that declares it makes this false.
  static var armSplitsWithoutBreak: Bool {
    (try? ARM64Format(granule: .k4, inputBits: 48))?.liveEntryRule != .breakBeforeMake
  }

  @Test(arguments: ModelFamily.all)
  func partialUnmapsProduceNoReport(_ family: ModelFamily) throws {
    for seed: UInt64 in [3, 4] {
      let reports = try Self.reports(family, partialUnmaps: true, seed: seed)
      withKnownIssue(
        "ARM64 block splits and run breaks without break-before-make (engine-ops' fix not on main)"
      ) {
        #expect(
          reports.isEmpty,
          "seed \(seed): \(reports.count) reports, \(Set(reports.map(\.rule))); first: \(reports.prefix(2))"
        )
      } when: {
        family.name.hasPrefix("ARM64") && Self.armSplitsWithoutBreak
      }
    }
  }
}
