import Foundation
import PageTables

/// The text and JSON forms of a walk, as `pgtable dump` prints them.
///
/// ```swift
/// let result = try TableWalker(source).walk()
/// for line in DumpReport.table(result, source: source) { print(line) }
/// let json = DumpReport.json(result, source: source)   // sorted keys, stable bytes
/// ```
public enum DumpReport {
  /// A protection as letters: `rwx` (dashes for what is missing), `u` user, `g` global.
  public static func letters(_ p: Protection) -> String {
    (p.read ? "r" : "-") + (p.write ? "w" : "-") + (p.execute ? "x" : "-") + (p.user ? "u" : "-")
      + (p.global ? "g" : "-")
  }

  /// Accessed, dirty and contiguous as `A`, `D`, `C`.
  public static func flagLetters(_ f: LeafFlags) -> String {
    let letters = (f.accessed ? "A" : "") + (f.dirty ? "D" : "") + (f.contiguous ? "C" : "")
    return letters.isEmpty ? "-" : letters
  }

  /// A size in the largest binary unit that divides it: `4 KiB`, `2 MiB`, `12 KiB`.
  public static func size(_ bytes: UInt64) -> String { ValueText.size(bytes) }

  static func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
  }

  /// The source line: what was walked, in which format, from which root.
  public static func heading(_ source: DumpSource) -> String {
    "\(source.kind.rawValue), format \(source.format), root \(source.roots.map(hex).joined(separator: ", ")) (\(source.origin))"
  }

  /// The runs as an aligned table, then the totals and the findings.
  public static func table(_ result: WalkResult, source: DumpSource) -> [String] {
    var lines = [heading(source)]
    lines += source.problems.map { "input: \($0)" }
    lines.append(
      pad("VIRTUAL", 24) + pad("PHYSICAL", 24) + pad("SIZE", 11) + pad("LEVEL", 6) + pad("PAGE", 9)
        + pad("PROT", 6) + pad("MEMORY", 9) + "FLAGS")
    for run in result.runs {
      lines.append(
        pad(hex(run.virtualAddress), 24) + pad(hex(run.physicalAddress), 24)
          + pad(size(run.size), 11)
          + pad("\(run.level)", 6) + pad(size(run.pageSize), 9) + pad(letters(run.protection), 6)
          + pad("\(run.protection.memoryType)", 9) + flagLetters(run.flags))
    }
    let mapped = result.runs.reduce(UInt64(0)) { $0 &+ $1.size }
    lines.append(
      "\(result.runs.count) runs, \(approximateSize(mapped)) mapped, \(result.tables.count) tables (\(size(UInt64(result.tableBytes)))), \(result.findingCount) findings"
    )
    for finding in result.findings { lines.append("finding: \(finding)") }
    if result.findingCount > result.findings.count {
      lines.append("… and \(result.findingCount - result.findings.count) more findings")
    }
    return lines
  }

  /// The walk as JSON with sorted keys (addresses as hex strings, sizes as numbers).
  public static func json(_ result: WalkResult, source: DumpSource) -> String {
    let document = DumpDocument(
      source: source.kind.rawValue, format: source.format.text, roots: source.roots.map(hex),
      origin: source.origin, problems: source.problems,
      runs: result.runs.map {
        DumpDocument.Run(
          va: hex($0.virtualAddress), pa: hex($0.physicalAddress), size: $0.size, level: $0.level,
          pageSize: $0.pageSize, protection: letters($0.protection),
          memory: "\($0.protection.memoryType)", accessed: $0.flags.accessed, dirty: $0.flags.dirty,
          contiguous: $0.flags.contiguous, global: $0.protection.global)
      },
      findings: result.findings.map {
        DumpDocument.Problem(
          entryAddress: hex($0.entryAddress), entry: $0.entry.map(hex), level: $0.level,
          va: hex($0.virtualAddress), message: $0.message)
      },
      findingCount: result.findingCount, tables: result.tables.count, tableBytes: result.tableBytes)
    return encode(document)
  }

  static func encode(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(value) else {
      preconditionFailure("DumpReport: plain structs always encode")
    }
    return String(decoding: data, as: UTF8.self)
  }
}

/// The JSON document of a dump.
struct DumpDocument: Codable {
  struct Run: Codable {
    var va: String
    var pa: String
    var size: UInt64
    var level: Int
    var pageSize: UInt64
    var protection: String
    var memory: String
    var accessed: Bool
    var dirty: Bool
    var contiguous: Bool
    var global: Bool
  }
  struct Problem: Codable {
    var entryAddress: String
    var entry: String?
    var level: Int
    var va: String
    var message: String
  }
  var source: String
  var format: String
  var roots: [String]
  var origin: String
  var problems: [String]
  var runs: [Run]
  var findings: [Problem]
  var findingCount: Int
  var tables: Int
  var tableBytes: Int
}
