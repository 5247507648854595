import Testing

@testable import PageTablesTools

/// `pgtable conformance --filter`: a filter that matches nothing is refused before
/// anything runs, naming every configuration there is.
@Suite struct ConformanceFilterTests {
  @Test func aFilterMatchingNothingSaysSoAndListsTheKnownConfigurations() {
    let all = ConformanceConfiguration.all.map(\.fullName)
    #expect(throws: ConformanceError.self) {
      try ConformanceSuite.configurations(matching: "no such machine")
    }
    do {
      _ = try ConformanceSuite.configurations(matching: "no such machine")
    } catch {
      guard case .noConfigurationMatches(let filter, let known) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(filter == "no such machine" && known == all)
      #expect(error.description.contains("no conformance configuration matches 'no such machine'"))
      #expect(all.allSatisfy { error.description.contains("\n  \($0)") })
    }
  }

  @Test func aFilterSelectsByNameOrWayCaseInsensitively() throws {
    let riscv = try ConformanceSuite.configurations(matching: "risc-v sv39")
    #expect(!riscv.isEmpty && riscv.allSatisfy { $0.name.hasPrefix("RISC-V Sv39") })
    let engine = try ConformanceSuite.configurations(matching: "guest engine")
    #expect(!engine.isEmpty && engine.allSatisfy { $0.way == .guestEngine })
    #expect(
      try ConformanceSuite.configurations(matching: nil).count == ConformanceConfiguration.all.count
    )
  }
}
