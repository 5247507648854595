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
  @Test(arguments: ModelFamily.all)
  func partialUnmapsProduceNoReport(_ family: ModelFamily) throws {
    for seed: UInt64 in [3, 4] {
      let reports = try Self.reports(family, partialUnmaps: true, seed: seed)
      #expect(
        reports.isEmpty,
        "seed \(seed): \(reports.count) reports, \(Set(reports.map(\.rule))); first: \(reports.prefix(2))"
      )
    }
  }
}
