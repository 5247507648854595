import PageTables

/// A mapping specification: which format, where the table image will live, and
/// the regions to map. `pgtable build` reads one from JSON or YAML.
///
/// ```yaml
/// format: arm64
/// configuration: { granule: 4k, inputBits: 48 }
/// base: 0x4010_0000          # physical address the image is loaded at
/// regions:
///   - { va: 0x4000_0000, pa: 0x4000_0000, size: 1G, protection: rwx }
///   - { va: 0x0900_0000, pa: 0x0900_0000, size: 4K, protection: rw, memory: device }
/// ```
///
/// Numbers are decimal or `0x` hex, `_` allowed; sizes may end in K, M, G or T
/// (KiB, MiB, …). A protection is letters: `r` read, `w` write, `x` execute, `u`
/// user, `g` global. Memory types: `normal` (default), `uncached`, `device`.
public struct MappingSpec: Hashable, Sendable {
  /// The format and its configuration.
  public var format: FormatDescriptor
  /// The physical address of the table image's first byte.
  public var base: UInt64
  /// The most bytes the image may grow to.
  public var capacity: UInt64
  /// The regions, mapped in this order.
  public var regions: [Region]

  /// The default ``capacity``: 16 MiB.
  public static var defaultCapacity: UInt64 { 16 << 20 }

  /// Makes one from its parts.
  public init(
    format: FormatDescriptor, base: UInt64, capacity: UInt64 = MappingSpec.defaultCapacity,
    regions: [Region]
  ) {
    self.format = format
    self.base = base
    self.capacity = capacity
    self.regions = regions
  }

  /// One mapped region.
  public struct Region: Hashable, Sendable {
    /// The first virtual address.
    public var virtualAddress: UInt64
    /// The first physical address.
    public var physicalAddress: UInt64
    /// Bytes to map.
    public var size: UInt64
    /// What the mapping allows, with its memory type.
    public var protection: Protection
    /// The line the region starts at in its spec file (0 when made in code).
    public var line: Int

    /// Makes one from its parts.
    public init(
      virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, protection: Protection,
      line: Int = 0
    ) {
      self.virtualAddress = virtualAddress
      self.physicalAddress = physicalAddress
      self.size = size
      self.protection = protection
      self.line = line
    }
  }
}
