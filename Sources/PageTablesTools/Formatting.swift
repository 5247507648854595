import PageTables

/// Text forms of addresses, sizes and protections for the tool's output.
public enum Formatting {
  /// `0x` and lowercase hex digits grouped by four, as in `0xffff_8000_0000_0000`.
  public static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    var grouped = ""
    for (i, c) in digits.enumerated() {
      if i > 0 && (digits.count - i) % 4 == 0 { grouped += "_" }
      grouped.append(c)
    }
    return "0x" + grouped
  }

  /// A size in the largest binary unit that divides it: `4 KiB`, `2 MiB`, `12 KiB`.
  public static func size(_ bytes: UInt64) -> String {
    let units: [(UInt64, String)] = [
      (1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"),
    ]
    for (unit, name) in units where bytes >= unit && bytes % unit == 0 {
      return "\(bytes / unit) \(name)"
    }
    return "\(bytes) B"
  }

  /// `rwx` flags, `u` for user, `g` for global, and the memory type.
  public static func protection(_ p: Protection) -> String {
    (p.read ? "r" : "-") + (p.write ? "w" : "-") + (p.execute ? "x" : "-")
      + (p.user ? "u" : "-") + (p.global ? "g" : "-") + " " + "\(p.memoryType)"
  }

  /// One line per run: `virtual -> physical size protection`.
  public static func runs(_ runs: [MappingRun]) -> [String] {
    runs.map { run in
      "\(hex(run.virtualAddress)) -> \(hex(run.physicalAddress))  \(size(run.size))  \(protection(run.protection))"
    }
  }
}
