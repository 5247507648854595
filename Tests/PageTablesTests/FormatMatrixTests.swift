import PageTables
import Testing

/// The table-driven suite: every scenario over every format and configuration.
@Suite struct FormatMatrixTests {
  @Test(arguments: FormatCases.all, Scenario.allCases)
  func scenario(_ format: FormatCase, _ scenario: Scenario) throws {
    try format.run(scenario)
  }
}
