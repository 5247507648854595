import PageTables

/// Builds the tables a ``MappingSpec`` describes, with the engine, into a
/// ``TableImage``.
///
/// ```swift
/// let spec = try MappingSpec.parse(text, name: "boot.yaml")
/// let image = try TableBuilder.build(spec)
/// image.roots[0]                  // the root table's physical address
/// ```
///
/// The same spec always gives the same bytes: tables are carved from the image in
/// address order as the regions are mapped, in the spec's order.
public enum TableBuilder {
  /// The largest image a spec may ask for: 1 GiB of tables.
  public static var maximumCapacity: UInt64 { 1 << 30 }

  /// Builds the spec's tables.
  ///
  /// - Throws: ``ImageError/build(_:)`` for a region the format refuses (naming
  ///   the region and its line) or an image too small or misplaced.
  public static func build(_ spec: MappingSpec) throws(ImageError) -> TableImage {
    let resolved: ResolvedFormat
    do {
      resolved = try spec.format.resolve()
    } catch {
      throw .build("\(error)")
    }
    return try build(spec, resolved.format)
  }

  static func build<Format: PageTableFormat>(_ spec: MappingSpec, _ format: Format)
    throws(ImageError) -> TableImage
  {
    let geometry = format.geometry
    let alignment = UInt64(
      max(geometry.rootTableBytes, geometry.levels.map(\.tableBytes).max() ?? 0))
    guard spec.base % alignment == 0 else {
      throw .build(
        "base \(hex(spec.base)) must be aligned to \(alignment) bytes (the largest table of \(spec.format))"
      )
    }
    guard spec.capacity % 4096 == 0, spec.capacity <= maximumCapacity else {
      throw .build("size must be whole 4 KiB pages, at most \(maximumCapacity >> 20) MiB")
    }
    guard spec.base <= UInt64.max - spec.capacity else {
      throw .build("base + size passes the top of the physical address space")
    }
    let memory: ImageTableMemory
    do {
      memory = try ImageTableMemory(base: spec.base, byteCount: Int(spec.capacity))
    } catch {
      throw .build("\(error)")
    }
    let table: PageTable<Format, ImageTableMemory>
    do {
      table = try PageTable(
        format: format, memory: memory, options: PageTableOptions(leakReporter: { _ in }))
    } catch {
      throw .build("the image has no room for the root table: \(error)")
    }
    for (index, region) in spec.regions.enumerated() {
      do {
        try table.map(
          virtualAddress: region.virtualAddress, physicalAddress: region.physicalAddress,
          size: region.size, protection: region.protection)
      } catch {
        let line = region.line > 0 ? " (line \(region.line))" : ""
        let reason =
          error == .outOfTableMemory
          ? "the image is full (\(spec.capacity) bytes): raise size" : "\(error)"
        throw .build(
          "regions[\(index)]\(line): \(hex(region.virtualAddress)) size \(hex(region.size)): \(reason)"
        )
      }
    }
    let roots = (0..<table.rootCount).map { table.rootAddress($0) }
    return TableImage(format: spec.format, base: spec.base, roots: roots, bytes: memory.bytes())
  }
}
