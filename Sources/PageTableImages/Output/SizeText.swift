import PageTables

/// `ValueText.hex`, for this module's messages.
func hex(_ value: UInt64) -> String { ValueText.hex(value) }

/// A size in the largest binary unit below it with two decimals (`1.02 GiB`), or
/// exact where a unit divides it (`2 MiB`): for totals.
func approximateSize(_ bytes: UInt64) -> String {
  let units: [(UInt64, String)] = [
    (1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"),
  ]
  guard let (unit, name) = units.first(where: { bytes >= $0.0 }), bytes % unit != 0 else {
    return ValueText.size(bytes)
  }
  let hundredths = (bytes * 100 + unit / 2) / unit
  let fraction = hundredths % 100
  return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) \(name)"
}
