import MMUModel
import PageTables
import Testing

/// One deliberately buggy sequence per rule, on every family: each is reported,
/// with the address space, address and rule named.
@Suite struct CheckerTests {
  /// What a buggy sequence reported.
  struct Outcome {
    var rules: Set<MMUReport.Rule>
    var reports: [MMUReport]
  }

  /// A buggy sequence run on one format.
  struct Bug: FormatBody {
    let rule: MMUReport.Rule
    let outcome: Box<Outcome>

    func run<Format: PageTableFormat>(_ format: Format, _ protections: [Protection]) throws {
      let rig = try Rig(format)
      let granule = format.geometry.granule
      let window = format.geometry.windows[0]
      // A page well inside the window, with a neighbour that keeps its table alive.
      let lastLevel = format.geometry.levels[format.geometry.levels.count - 1]
      let va = (window.first &+ lastLevel.coverage) & ~(lastLevel.coverage &- 1)
      let pa = dataBase &+ 0x10_0000 * granule / 0x1000
      let protection = protections[0]
      let (kind, privilege) = allowedAccess(protection)
      var left: [(UInt64, UInt64)] = []
      switch rule {
      case .staleTranslation:
        try rig.table.map(
          virtualAddress: va, physicalAddress: pa, size: 2 * granule, protection: protection)
        _ = try rig.mmu.access(va, kind, privilege, in: rig.space)
        try rig.unmapWithoutInvalidation(va, granule)
        _ = try? rig.mmu.access(va, kind, privilege, in: rig.space)  // the stale TLB entry
        left = [(va &+ granule, granule)]
      case .tableFreedWhileReachable:
        try rig.table.map(
          virtualAddress: va, physicalAddress: pa, size: granule, protection: protection)
        _ = try rig.mmu.access(va, kind, privilege, in: rig.space)
        try rig.unmapWithoutInvalidation(va, granule)  // frees the emptied tables
      case .tableReusedWhileWalkable:
        try rig.table.map(
          virtualAddress: va, physicalAddress: pa, size: granule, protection: protection)
        _ = try rig.mmu.access(va, kind, privilege, in: rig.space)
        try rig.unmapWithoutInvalidation(va, granule)
        // A map elsewhere needs tables: the freed ones come back.
        let other = va &+ 8 * lastLevel.coverage
        try rig.table.map(
          virtualAddress: other, physicalAddress: pa, size: granule, protection: protection)
        left = [(other, granule)]
      case .mappedPageFreed:
        try rig.table.map(
          virtualAddress: va, physicalAddress: pa, size: granule, protection: protection)
        rig.mmu.pageFreed(physicalAddress: pa, byteCount: granule)  // still mapped
        left = [(va, granule)]
      case .breakBeforeMake:
        try rig.table.map(
          virtualAddress: va, physicalAddress: pa, size: 2 * granule, protection: protection)
        _ = try rig.mmu.access(va, kind, privilege, in: rig.space)
        try rig.unmapWithoutInvalidation(va, granule)
        try rig.table.map(
          virtualAddress: va, physicalAddress: pa &+ 4 * granule, size: granule,
          protection: protection)
        rig.mmu.synchronize()
        left = [(va, 2 * granule)]
      }
      let reports = rig.mmu.reports
      outcome.value = Outcome(rules: Set(reports.map(\.rule)), reports: reports)
      // Put things right so the table can go: invalidate everything, unmap the rest.
      rig.mmu.invalidate(.all)
      try rig.tearDown(left)
    }
  }

  static func outcome(_ rule: MMUReport.Rule, _ family: ModelFamily) throws -> Outcome {
    let bug = Bug(rule: rule, outcome: Box())
    try family.run(bug)
    return try #require(bug.outcome.value)
  }

  @Test(arguments: ModelFamily.all)
  func anUnmapWithoutInvalidationLeavesAStaleTranslation(_ family: ModelFamily) throws {
    let outcome = try Self.outcome(.staleTranslation, family)
    #expect(outcome.rules == [.staleTranslation], "\(outcome.reports)")
    let report = try #require(outcome.reports.first)
    #expect(report.addressSpace.asid == 1)
    #expect(report.cachedAt != nil && report.changedAt != nil)
    #expect(report.operation == .access(report.operation.accessKind!, report.operation.privilege!))
  }

  @Test(arguments: ModelFamily.all)
  func aTableFreedBeforeTheInvalidationIsReported(_ family: ModelFamily) throws {
    let outcome = try Self.outcome(.tableFreedWhileReachable, family)
    #expect(outcome.rules == [.tableFreedWhileReachable], "\(outcome.reports)")
    #expect(outcome.reports.allSatisfy { $0.physicalAddress != nil && $0.changedAt != nil })
  }

  @Test(arguments: ModelFamily.all)
  func aTableReusedBeforeTheInvalidationIsReported(_ family: ModelFamily) throws {
    let outcome = try Self.outcome(.tableReusedWhileWalkable, family)
    #expect(outcome.rules.contains(.tableReusedWhileWalkable), "\(outcome.reports)")
  }

  @Test(arguments: ModelFamily.all)
  func aMappedPageFreedIsReported(_ family: ModelFamily) throws {
    let outcome = try Self.outcome(.mappedPageFreed, family)
    #expect(outcome.rules == [.mappedPageFreed], "\(outcome.reports)")
    #expect(outcome.reports.count == 1)
  }

  @Test(arguments: ModelFamily.all)
  func aRemapWithoutInvalidationBreaksBreakBeforeMake(_ family: ModelFamily) throws {
    let outcome = try Self.outcome(.breakBeforeMake, family)
    #expect(outcome.rules == [.breakBeforeMake], "\(outcome.reports)")
  }
}

extension MMUReport.Operation {
  var accessKind: AccessKind? {
    if case .access(let kind, _) = self { return kind }
    return nil
  }
  var privilege: Privilege? {
    if case .access(_, let privilege) = self { return privilege }
    return nil
  }
}

/// A place for a generic body to leave its result.
final class Box<Value> {
  var value: Value?
}
