import MMUModel
import PageTables
import PageTablesTools
import Testing

/// The model's own walker agrees with the engine on every family: same output
/// address, leaf size and protection, and faults exactly where nothing is mapped.
@Suite struct WalkerTests {
  struct AgreesWithEngine: FormatBody {
    func run<Format: PageTableFormat>(_ format: Format, _ protections: [Protection]) throws {
      let rig = try Rig(format)
      let geometry = format.geometry
      let sizes = geometry.leafSizes.filter { $0 <= 1 << 30 }
      var random = SplitMix64(seed: 11)
      var mapped: [(UInt64, UInt64, UInt64, Protection)] = []
      var next = geometry.windows[0].first &+ (sizes[0] << 4)
      for round in 0..<24 {
        let size = sizes[round % sizes.count] * (round % 3 == 0 ? 2 : 1)
        next = (next &+ size &- 1) & ~(size &- 1)
        let protection = protections[round % protections.count]
        try rig.table.map(
          virtualAddress: next, physicalAddress: dataBase &+ next, size: size,
          protection: protection)
        mapped.append((next, size, dataBase &+ next, protection))
        next &+= size &+ sizes[0] &* UInt64(random.next() % 3)
      }
      for (va, size, pa, protection) in mapped {
        for offset in [0, size / 2, size - 8] {
          let (kind, privilege) = allowedAccess(protection)
          let model = try rig.mmu.access(va &+ offset, kind, privilege, in: rig.space)
          let engine = try #require(rig.table.translate(va &+ offset))
          #expect(model.physicalAddress == pa &+ offset)
          #expect(model.physicalAddress == engine.physicalAddress)
          #expect(model.level == engine.level)
          #expect(model.protection == engine.protection)
        }
        // The granule just past the mapping faults unless the next mapping starts there.
        let after = va &+ size
        if !mapped.contains(where: { $0.0 <= after && after < $0.0 &+ $0.1 }) {
          #expect(throws: MMUFault.self) { try rig.mmu.access(after, in: rig.space) }
          #expect(rig.table.translate(after) == nil)
        }
      }
      try rig.tearDown(mapped.map { ($0.0, $0.1) })
      #expect(rig.mmu.reports.isEmpty, "\(rig.mmu.reports)")
    }
  }

  @Test(arguments: ModelFamily.all)
  func walkerAgreesWithTheEngine(_ family: ModelFamily) throws {
    try family.run(AgreesWithEngine())
  }

  @Test func faultsReportKindAndLevel() throws {
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48))
    try rig.table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x1000,
      protection: .readOnly)
    // Nothing at level 1 for 1 GiB: the walk stops at level 1 (the root has a table).
    let unmapped = #expect(throws: MMUFault.self) {
      try rig.mmu.access(0x4000_0000, in: rig.space)
    }
    #expect(unmapped?.kind == .translation)
    #expect(unmapped?.level == 1)
    // The neighbour page: the walk reaches level 3.
    let neighbour = #expect(throws: MMUFault.self) { try rig.mmu.access(0x20_1000, in: rig.space) }
    #expect(neighbour?.level == 3)
    // A store to a read-only page, and a user load of a privileged page.
    let store = #expect(throws: MMUFault.self) {
      try rig.mmu.access(0x20_0000, .write, in: rig.space)
    }
    #expect(store?.kind == .permission)
    #expect(store?.level == 3)
    let user = #expect(throws: MMUFault.self) {
      try rig.mmu.access(0x20_0000, .read, .user, in: rig.space)
    }
    #expect(user?.kind == .permission)
    // Outside the 48-bit window.
    let outside = #expect(throws: MMUFault.self) {
      try rig.mmu.access(1 << 50, in: rig.space)
    }
    #expect(outside?.kind == .translation)
    #expect(outside?.level == 0)
    try rig.tearDown([(0x20_0000, 0x1000)])
  }

  @Test func outputWiderThanTheOutputSizeIsAnAddressSizeFault() throws {
    let format = try ARM64Format(granule: .k4, inputBits: 48, outputBits: 40)
    let rig = try Rig(format)
    try rig.table.map(
      virtualAddress: 0x1000, physicalAddress: 0x8000_1000, size: 0x1000, protection: .readWrite)
    // Rewrite the leaf with an output address above 40 bits, as corrupt memory would.
    let translation = try #require(rig.table.translate(0x1000))
    let wide = (translation.entry & ~0xFFFF_FFFF_F000) | (1 << 44)
    try overwriteLeaf(rig, virtualAddress: 0x1000, with: wide)
    let fault = #expect(throws: MMUFault.self) { try rig.mmu.access(0x1000, in: rig.space) }
    #expect(fault?.kind == .addressSize)
    #expect(fault?.level == 3)
    try overwriteLeaf(rig, virtualAddress: 0x1000, with: translation.entry)
    try rig.tearDown([(0x1000, 0x1000)])
  }
}
