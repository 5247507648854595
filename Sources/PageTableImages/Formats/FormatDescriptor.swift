import Foundation
import PageTables

/// A page-table format named in text: a family and its configuration, as a spec's
/// `format:` / `configuration:` or a command line's `--format` spell it.
///
/// ```swift
/// let descriptor = try FormatDescriptor(parsing: "arm64:granule=16k,inputBits=47")
/// let format = try descriptor.resolve()      // an ARM64Format
/// descriptor.text                            // "arm64:granule=16k,inputBits=47"
/// ```
///
/// Families and options (every option is optional; the defaults are the formats'):
/// - `arm64`: `granule` (4k, 16k, 64k), `stage` (1, 2), `inputBits`, `outputBits`,
///   `base` (ttbr0, ttbr1), `dirtyTracking` (true/false)
/// - `x86-64`: `levels` (4, 5), `maxPhysicalAddressBits`, `noExecute`,
///   `gigabytePages`, `pat` (powerOnDefault, linux, writeCombiningAtIndex4)
/// - `riscv`: `mode` (sv39, sv48, sv57), `svnapot`, `svpbmt`, `setsDirtyAtMap`
/// - `uat`: `addressSpace` (user, kernel), `outputBits`
/// - `dart`: `version` (1, 2), `granule` (4k, 16k), `inputBits`
///
/// The text form lists options sorted by name, so equal descriptors print equally.
public struct FormatDescriptor: Hashable, Sendable, CustomStringConvertible {
  /// The format family.
  public enum Family: String, Hashable, Sendable, CaseIterable {
    /// ARM64 VMSAv8-64.
    case arm64
    /// x86-64, 4 or 5 levels.
    case x86_64 = "x86-64"
    /// RISC-V Sv39, Sv48 or Sv57.
    case riscv
    /// Apple AGX GPU (UAT).
    case uat
    /// Apple DART (IOMMU).
    case dart

    /// The options this family accepts.
    var options: Set<String> {
      switch self {
      case .arm64: ["granule", "stage", "inputBits", "outputBits", "base", "dirtyTracking"]
      case .x86_64: ["levels", "maxPhysicalAddressBits", "noExecute", "gigabytePages", "pat"]
      case .riscv: ["mode", "svnapot", "svpbmt", "setsDirtyAtMap"]
      case .uat: ["addressSpace", "outputBits"]
      case .dart: ["version", "granule", "inputBits"]
      }
    }

    init?(name: String) {
      switch name.lowercased() {
      case "arm64", "aarch64": self = .arm64
      case "x86-64", "x86_64", "x64", "amd64": self = .x86_64
      case "riscv", "riscv64", "sv39", "sv48", "sv57": self = .riscv
      case "uat", "apple-uat", "agx": self = .uat
      case "dart", "apple-dart": self = .dart
      default: return nil
      }
    }
  }

  /// The family.
  public var family: Family
  /// The configuration, option name to value.
  public var options: [String: String]

  /// A descriptor from parts. A RISC-V mode as the family (`sv39`, `sv48`,
  /// `sv57`) stands for `riscv` with that mode.
  ///
  /// - Throws: ``ImageError/format(_:)`` for an unknown family or option.
  public init(family: String, options: [String: String] = [:]) throws(ImageError) {
    var options = options
    if ["sv39", "sv48", "sv57"].contains(family.lowercased()) && options["mode"] == nil {
      options["mode"] = family.lowercased()
    }
    guard let known = Family(name: family) else {
      throw .format(
        "unknown format \"\(family)\" (known: \(Family.allCases.map(\.rawValue).joined(separator: ", ")))"
      )
    }
    for key in options.keys.sorted() where !known.options.contains(key) {
      throw .format(
        "\(known.rawValue) has no option \"\(key)\" (options: \(known.options.sorted().joined(separator: ", ")))"
      )
    }
    self.family = known
    self.options = options
  }

  /// Parses `family` or `family:name=value,name=value`.
  ///
  /// - Throws: ``ImageError/format(_:)``.
  public init(parsing text: String) throws(ImageError) {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let parts = trimmed.split(separator: ":", maxSplits: 1).map(String.init)
    var options: [String: String] = [:]
    if parts.count == 2 {
      for pair in parts[1].split(separator: ",") {
        let nameValue = pair.split(separator: "=", maxSplits: 1).map {
          $0.trimmingCharacters(in: .whitespaces)
        }
        guard nameValue.count == 2, !nameValue[0].isEmpty, !nameValue[1].isEmpty else {
          throw .format("\"\(pair)\" is not name=value")
        }
        options[nameValue[0]] = nameValue[1]
      }
    }
    try self.init(family: parts.first ?? "", options: options)
  }

  /// The canonical text form: the family, then the options sorted by name.
  public var text: String {
    options.isEmpty
      ? family.rawValue
      : family.rawValue + ":"
        + options.keys.sorted().map { "\($0)=\(options[$0]!)" }.joined(separator: ",")
  }

  public var description: String { text }

  /// The format this descriptor names.
  ///
  /// - Throws: ``ImageError/format(_:)`` for a value an option does not take or a
  ///   combination the format refuses.
  public func resolve() throws(ImageError) -> ResolvedFormat {
    do {
      switch family {
      case .arm64:
        let granule: ARM64Format.Granule =
          switch try choice("granule", ["4k": 0, "16k": 1, "64k": 2], default: 0) {
          case 1: .k16
          case 2: .k64
          default: .k4
          }
        let stage: ARM64Format.Stage =
          try integer("stage", default: 1, in: 1...2) == 2 ? .two : .one
        let base: ARM64Format.TranslationBase =
          try choice("base", ["ttbr0": 0, "ttbr1": 1], default: 0) == 1 ? .ttbr1 : .ttbr0
        return .arm64(
          try ARM64Format(
            granule: granule, stage: stage,
            inputBits: integer("inputBits", default: 48, in: 1...64),
            outputBits: integer("outputBits", default: 48, in: 1...64), translationBase: base,
            dirtyTracking: boolean("dirtyTracking", default: false)))
      case .x86_64:
        let pat: X86_64Format.PATLayout =
          switch try choice(
            "pat", ["powerondefault": 0, "linux": 1, "writecombiningatindex4": 2], default: 0)
          {
          case 1: .linux
          case 2: .writeCombiningAtIndex4
          default: .powerOnDefault
          }
        return .x86_64(
          try X86_64Format(
            levels: integer("levels", default: 4, in: 1...8),
            maxPhysicalAddressBits: integer("maxPhysicalAddressBits", default: 52, in: 1...64),
            noExecute: boolean("noExecute", default: true),
            gigabytePages: boolean("gigabytePages", default: true), pat: pat))
      case .riscv:
        let mode: RISCVFormat.Mode =
          switch try choice("mode", ["sv39": 0, "sv48": 1, "sv57": 2], default: 0) {
          case 1: .sv48
          case 2: .sv57
          default: .sv39
          }
        return .riscv(
          RISCVFormat(
            mode, svnapot: try boolean("svnapot", default: true),
            svpbmt: try boolean("svpbmt", default: false),
            setsDirtyAtMap: try boolean("setsDirtyAtMap", default: false)))
      case .uat:
        let space: AppleUATFormat.AddressSpace =
          try choice("addressSpace", ["user": 0, "kernel": 1], default: 0) == 1 ? .kernel : .user
        return .uat(
          try AppleUATFormat(
            addressSpace: space, outputBits: integer("outputBits", default: 40, in: 1...64)))
      case .dart:
        let version: AppleDARTFormat.Version =
          try integer("version", default: 1, in: 1...2) == 2 ? .dart2 : .dart1
        let granule: AppleDARTFormat.Granule =
          try choice("granule", ["4k": 0, "16k": 1], default: version == .dart2 ? 1 : 0) == 1
          ? .k16 : .k4
        return .dart(
          try AppleDARTFormat(
            version: version, granule: granule,
            inputBits: integer("inputBits", default: 36, in: 1...64)))
      }
    } catch let error as ImageError {
      throw error
    } catch let error as PageTableError {
      throw .format("\(text): \(error)")
    } catch {
      throw .format("\(text): \(error)")
    }
  }

  func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(ImageError)
    -> Int
  {
    guard let text = options[name] else { return value }
    guard let number = Int(text), range.contains(number) else {
      throw .format("\(family.rawValue) option \(name): \"\(text)\" is not a number in \(range)")
    }
    return number
  }

  func boolean(_ name: String, default value: Bool) throws(ImageError) -> Bool {
    guard let text = options[name] else { return value }
    switch text.lowercased() {
    case "true", "yes", "on", "1": return true
    case "false", "no", "off", "0": return false
    default: throw .format("\(family.rawValue) option \(name): \"\(text)\" is not true or false")
    }
  }

  func choice(_ name: String, _ values: [String: Int], default value: Int) throws(ImageError) -> Int
  {
    guard let text = options[name] else { return value }
    guard let chosen = values[text.lowercased()] else {
      throw .format(
        "\(family.rawValue) option \(name): \"\(text)\" is not one of \(values.keys.sorted().joined(separator: ", "))"
      )
    }
    return chosen
  }
}
