import Foundation
import PageTables

/// Text forms of numbers, sizes and protections shared by specs and command lines.
public enum NumberParsing {
  /// `0x1000`, `4096`, `0xffff_8000_0000_0000`, `1_000`.
  public static func address(_ text: String) -> UInt64? {
    let cleaned = text.replacingOccurrences(of: "_", with: "").lowercased()
    if cleaned.hasPrefix("0x") { return UInt64(cleaned.dropFirst(2), radix: 16) }
    return UInt64(cleaned, radix: 10)
  }

  /// An address, or a number followed by `K`, `M`, `G` or `T` (optionally `iB`/`B`):
  /// binary units.
  public static func size(_ text: String) -> UInt64? {
    var body = text.replacingOccurrences(of: " ", with: "")
    for suffix in ["iB", "ib", "B", "b"] where body.hasSuffix(suffix) && body.count > suffix.count {
      let candidate = String(body.dropLast(suffix.count))
      if let last = candidate.last, "KkMmGgTt".contains(last) {
        body = candidate
        break
      }
    }
    let shifts: [Character: UInt64] = ["k": 10, "m": 20, "g": 30, "t": 40]
    if let last = body.last, let shift = shifts[Character(last.lowercased())] {
      guard let number = address(String(body.dropLast())), number <= (UInt64.max >> shift) else {
        return nil
      }
      return number << shift
    }
    return address(body)
  }

  /// Letters `r`, `w`, `x`, `u`, `g` (`-` ignored), with `memoryType`.
  public static func protection(_ text: String, memoryType: MemoryType = .normal) -> Protection? {
    var protection = Protection(read: false, memoryType: memoryType)
    for letter in text.lowercased() {
      switch letter {
      case "r": protection.read = true
      case "w": protection.write = true
      case "x": protection.execute = true
      case "u": protection.user = true
      case "g": protection.global = true
      case "-": break
      default: return nil
      }
    }
    return protection
  }

  /// `normal`, `uncached` or `device`.
  public static func memoryType(_ text: String) -> MemoryType? {
    MemoryType.allCases.first { "\($0)" == text.lowercased() }
  }
}
