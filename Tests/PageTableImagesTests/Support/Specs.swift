import Foundation
import Testing

/// A mapping spec for the tests, with the runs `dump` must find for it.
struct SpecCase: Sendable, CustomTestStringConvertible {
  var name: String
  var format: String
  var configuration: String
  var base: String
  /// (va, pa, size, protection letters, memory) — in address order, not adjacent.
  var regions: [(va: UInt64, pa: UInt64, size: UInt64, protection: String, memory: String)]

  var testDescription: String { name }

  /// The spec as YAML.
  var yaml: String {
    var text = "format: \(format)\n"
    if !configuration.isEmpty { text += "configuration: { \(configuration) }\n" }
    text += "base: \(base)\nregions:\n"
    for region in regions {
      text +=
        "  - va: 0x\(String(region.va, radix: 16))\n    pa: 0x\(String(region.pa, radix: 16))\n    size: \(region.size)\n    protection: \(region.protection)\n    memory: \(region.memory)\n"
    }
    return text
  }

  /// The same spec as JSON.
  var json: String {
    let configurationJSON =
      configuration.isEmpty
      ? ""
      : "\"configuration\": {"
        + configuration.split(separator: ",").map {
          let parts = $0.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
          return "\"\(parts[0])\": \"\(parts[1])\""
        }.joined(separator: ", ") + "},\n"
    let regionsJSON = regions.map {
      "{\"va\": \"0x\(String($0.va, radix: 16))\", \"pa\": \"0x\(String($0.pa, radix: 16))\", \"size\": \($0.size), \"protection\": \"\($0.protection)\", \"memory\": \"\($0.memory)\"}"
    }
    return
      "{\"format\": \"\(format)\",\n\(configurationJSON)\"base\": \"\(base)\",\n\"regions\": [\n"
      + regionsJSON.joined(separator: ",\n") + "\n]}\n"
  }

  static let x86 = SpecCase(
    name: "x86-64", format: "x86-64", configuration: "", base: "0x10_0000",
    regions: [
      (0x40_0000, 0x20_0000, 2 << 20, "rx", "normal"),
      (0x7000_0000, 0xFEE0_0000, 4096, "rw", "device"),
      (0x8000_0000, 0x100_0000, 64 << 10, "rwu", "normal"),
      (0xFFFF_8000_0000_0000, 0, 1 << 30, "rwg", "normal"),
    ])

  static let all: [SpecCase] = [
    x86,
    SpecCase(
      name: "x86-64 5-level", format: "x86-64", configuration: "levels: 5", base: "0x20_0000",
      regions: [
        (0x1000, 0x1000, 0x3000, "rw", "normal"),
        (0xFF00_0000_0000_0000, 0x4000_0000, 2 << 20, "rwg", "uncached"),
      ]),
    SpecCase(
      name: "arm64 4K", format: "arm64", configuration: "granule: 4k, inputBits: 48",
      base: "0x4010_0000",
      regions: [
        (0x4000_0000, 0x4000_0000, 1 << 30, "rwx", "normal"),
        (0x9000_0000, 0x0900_0000, 4096, "rw", "device"),
        (0x1_0000_0000, 0x8000_0000, 0x21_0000, "rwu", "normal"),
      ]),
    SpecCase(
      name: "arm64 16K TTBR1", format: "arm64",
      configuration: "granule: 16k, inputBits: 47, base: ttbr1",
      base: "0x4010_0000",
      regions: [(0xFFFF_8000_0000_0000, 0x4000_0000, 32 << 20, "rw", "normal")]),
    SpecCase(
      name: "RISC-V Sv39", format: "riscv", configuration: "mode: sv39", base: "0x8040_0000",
      regions: [
        (0x8000_0000, 0x8000_0000, 1 << 30, "rwx", "normal"),
        (0xFFFF_FFC0_0000_0000, 0x8000_0000, 0x11000, "rw", "normal"),
      ]),
    SpecCase(
      name: "Apple UAT", format: "uat", configuration: "", base: "0x8_0000_0000",
      regions: [(0x1_0000_0000, 0x8_1000_0000, 0x10_0000, "rwu", "normal")]),
    SpecCase(
      name: "Apple DART", format: "dart", configuration: "version: 1, granule: 4k, inputBits: 36",
      base: "0x10_0000",
      regions: [(0x8000_0000, 0x2000_0000, 0x5000, "rw", "normal")]),
  ]
}

/// A `dump --as json` document, parsed.
struct DumpJSON {
  struct Run: Equatable, CustomStringConvertible {
    var va: UInt64
    var pa: UInt64
    var size: UInt64
    var protection: String
    var memory: String
    var level: Int
    var description: String {
      "\(String(va, radix: 16)) -> \(String(pa, radix: 16)) \(size) \(protection) \(memory)"
    }
  }
  var runs: [Run]
  var findings: [[String: Any]]
  var roots: [String]

  static func number(_ text: String) -> UInt64 {
    UInt64(text.replacingOccurrences(of: "_", with: "").dropFirst(2), radix: 16) ?? .max
  }

  init(_ text: String) throws {
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    let runs = try #require(object["runs"] as? [[String: Any]])
    self.runs = runs.map {
      Run(
        va: Self.number($0["va"] as? String ?? ""), pa: Self.number($0["pa"] as? String ?? ""),
        size: ($0["size"] as? NSNumber)?.uint64Value ?? 0,
        protection: $0["protection"] as? String ?? "",
        memory: $0["memory"] as? String ?? "", level: ($0["level"] as? NSNumber)?.intValue ?? -1)
    }
    findings = object["findings"] as? [[String: Any]] ?? []
    roots = object["roots"] as? [String] ?? []
  }

  /// The runs merged across levels: what a spec's regions should equal.
  var merged: [Run] {
    var result: [Run] = []
    for run in runs {
      if var last = result.last, last.va &+ last.size == run.va, last.pa &+ last.size == run.pa,
        last.protection == run.protection, last.memory == run.memory
      {
        last.size += run.size
        result[result.count - 1] = last
      } else {
        var copy = run
        copy.level = 0
        result.append(copy)
      }
    }
    return result
  }
}

/// The letters `dump` prints for a spec's protection letters (`rwg` → `rw--g`).
func dumpLetters(_ spec: String) -> String {
  let has = { (c: Character) in spec.contains(c) }
  return (has("r") ? "r" : "-") + (has("w") ? "w" : "-") + (has("x") ? "x" : "-")
    + (has("u") ? "u" : "-") + (has("g") ? "g" : "-")
}
