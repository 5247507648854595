import PageTables
import Testing

/// Checks every protection — each combination of read, write, execute, user and
/// global, with every memory type — at every leaf level of `format`: the format
/// refuses exactly those `expressible` says it cannot express, and for the rest a
/// leaf decodes back to exactly the protection it was made from, whatever the bits
/// in `hardwareBits` (dirty bits the hardware sets) hold.
func expectEveryProtectionRoundTrips<Format: PageTableFormat>(
  _ format: Format, hardwareBits: UInt64, expressible: (Protection) -> Bool,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  for (level, geometry) in format.geometry.levels.enumerated() where geometry.allowsLeaf {
    for bits in 0..<32 {
      for type in MemoryType.allCases {
        let protection = Protection(
          read: bits & 1 != 0, write: bits & 2 != 0, execute: bits & 4 != 0,
          user: bits & 8 != 0, global: bits & 16 != 0, memoryType: type)
        guard expressible(protection) else {
          #expect(
            throws: PageTableError.unsupportedProtection(protection),
            sourceLocation: sourceLocation
          ) { try format.leafTemplate(for: protection, level: level) }
          continue
        }
        let template = try format.leafTemplate(for: protection, level: level)
        let entry = format.leafEntry(
          template: template, physicalAddress: geometry.leafSize, level: level)
        #expect(format.kind(of: entry, level: level) == .leaf, sourceLocation: sourceLocation)
        #expect(
          format.protection(of: entry | hardwareBits, level: level) == protection,
          "\(protection) at level \(level) with the hardware bits set",
          sourceLocation: sourceLocation)
        #expect(
          format.protection(of: entry & ~hardwareBits, level: level) == protection,
          "\(protection) at level \(level)", sourceLocation: sourceLocation)
        #expect(
          format.outputAddress(of: entry, level: level, virtualAddress: 0) == geometry.leafSize,
          sourceLocation: sourceLocation)
      }
    }
  }
}
