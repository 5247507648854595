import PageTables
import Testing

/// One format configuration the table-driven suite runs every scenario over.
///
/// Each format's file adds its configurations to ``FormatCases`` (for example
/// `FormatCases.arm64`); ``FormatCases/all`` is what the suite iterates.
struct FormatCase: Sendable, CustomTestStringConvertible {
  let name: String
  let run: @Sendable (Scenario) throws -> Void

  /// - Parameters:
  ///   - protections: protections the format can express, used by the scenarios
  ///     (the first is used where one is enough).
  init<Format: PageTableFormat>(
    _ name: String, protections: [Protection] = [.readWrite, .readOnly],
    _ make: @escaping @Sendable () throws -> Format
  ) {
    self.name = name
    self.run = { scenario in try scenario.run(try make(), protections: protections) }
  }

  var testDescription: String { name }
}

/// Every configuration, by family. Each family lives in its format's test file.
enum FormatCases {
  static var all: [FormatCase] { toy + appleUAT + appleDART + arm64 + x86_64 + riscv }
}
