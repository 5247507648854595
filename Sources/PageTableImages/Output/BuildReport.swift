/// What `pgtable build` prints: the image's place, its root(s) and the register
/// values that make hardware walk it.
///
/// ```swift
/// let image = try TableBuilder.build(spec)
/// for line in try BuildReport.lines(image) { print(line) }
/// // format x86-64, 8192 bytes of tables at 0x10_0000
/// // root 0x10_0000
/// // … then the registers to load, CR3 0x10_0000 among them
/// ```
public enum BuildReport {
  /// The report's lines.
  ///
  /// - Throws: ``ImageError/format(_:)`` if the image's format does not resolve.
  public static func lines(_ image: TableImage) throws(ImageError) -> [String] {
    let format = try image.format.resolve()
    var lines = [
      "format \(image.format), \(image.bytes.count) bytes of tables at \(hex(image.base))"
    ]
    for (index, root) in image.roots.enumerated() {
      lines.append(image.roots.count > 1 ? "root \(index) \(hex(root))" : "root \(hex(root))")
    }
    do {
      for register in try ActivationRegisters.values(for: format, roots: image.roots) {
        lines.append(
          "\(register.name) \(hex(register.value))"
            + (register.note.isEmpty ? "" : "  (\(register.note))"))
      }
    } catch {
      lines.append("registers: \(error)")
    }
    return lines
  }
}
