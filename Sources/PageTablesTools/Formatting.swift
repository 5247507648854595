import PageTables

/// Text forms of addresses, sizes and protections for the tool's output.
public enum Formatting {
  /// `0x` and lowercase hex digits grouped by four, as in `0xffff_8000_0000_0000`
  /// (the engine's `ValueText.hex(_:)`).
  public static func hex(_ value: UInt64) -> String { ValueText.hex(value) }

  /// A size in the largest binary unit that divides it: `4 KiB`, `2 MiB`, `12 KiB`
  /// (the engine's `ValueText.size(_:)`).
  public static func size(_ bytes: UInt64) -> String { ValueText.size(bytes) }

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
