/// How the engine's values print: addresses in hexadecimal grouped by four digits,
/// sizes in the largest binary unit that divides them, permissions as flags. No
/// Foundation, so the same text comes out on bare metal.
///
/// ```swift
/// let run = MappingRun(virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000,
///                      size: 0x20_0000, protection: .readWrite)
/// print(run)  // 0x20_0000..0x40_0000 -> 0x8020_0000 (2 MiB, rw-)
/// ```
public enum ValueText {
  /// `0x` and lowercase hex digits grouped by four from the right: `0xffff_8000_0000_0000`.
  public static func hex(_ value: UInt64) -> String {
    let digits = Array(String(value, radix: 16).utf8)
    var text = "0x"
    for (index, digit) in digits.enumerated() {
      if index > 0 && (digits.count - index) % 4 == 0 { text += "_" }
      text.unicodeScalars.append(Unicode.Scalar(digit))
    }
    return text
  }

  /// A size in the largest binary unit that divides it exactly: `4 KiB`, `2 MiB`,
  /// `1536 KiB`, `1 GiB`, `24 B`.
  public static func size(_ bytes: UInt64) -> String {
    let units: [(shift: UInt64, name: String)] = [
      (60, "EiB"), (50, "PiB"), (40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB"),
    ]
    for unit in units where bytes >> unit.shift > 0 && bytes & ((1 << unit.shift) - 1) == 0 {
      return "\(bytes >> unit.shift) \(unit.name)"
    }
    return "\(bytes) B"
  }
}

extension Protection: CustomStringConvertible {
  /// `r`, `w`, `x` flags (a dash where the access is not allowed), then `user` and
  /// `global` when set, the memory type unless it is normal, then the leaf
  /// attributes that are not the default (`os=` software bits, `attr=` attribute
  /// index, `not-accessed`): `rw-`, `r-x user`, `rw- global device`,
  /// `rw- os=0x5 attr=6 not-accessed`.
  public var description: String {
    var text = (read ? "r" : "-") + (write ? "w" : "-") + (execute ? "x" : "-")
    if user { text += " user" }
    if global { text += " global" }
    if memoryType != .normal { text += " \(memoryType)" }
    if softwareBits != 0 { text += " os=\(ValueText.hex(UInt64(softwareBits)))" }
    if let attributeIndex { text += " attr=\(attributeIndex)" }
    if !accessed { text += " not-accessed" }
    return text
  }
}

extension MemoryType: CustomStringConvertible {
  /// `normal`, `uncached` or `device`.
  public var description: String {
    switch self {
    case .normal: "normal"
    case .uncached: "uncached"
    case .device: "device"
    }
  }
}

extension Translation: CustomStringConvertible {
  /// The physical address and the leaf that maps it:
  /// `0x8020_1234 (2 MiB leaf at level 2, rw-)`.
  public var description: String {
    "\(ValueText.hex(physicalAddress)) (\(ValueText.size(pageSize)) leaf at level \(level), "
      + "\(protection))"
  }
}

extension MappingRun: CustomStringConvertible {
  /// The virtual range, where it maps to, its size and protection:
  /// `0x20_0000..0x40_0000 -> 0x8020_0000 (2 MiB, rw-)`.
  public var description: String {
    "\(ValueText.hex(virtualAddress))..\(ValueText.hex(virtualAddress &+ size)) -> "
      + "\(ValueText.hex(physicalAddress)) (\(ValueText.size(size)), \(protection))"
  }
}
