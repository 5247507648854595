import MMUModel
import PageTables
import PageTablesTools
import Testing

/// A random sequence of the engine's own operations (map of every leaf size and of
/// contiguous runs, unmap with table unlinking, optionally partial unmaps that
/// split blocks and break runs, flushes through the model's invalidator, frees of
/// the unmapped data pages, accesses) with the model attached; returns its reports.
struct RandomDriver: FormatBody {
  /// One mapping the driver made.
  struct Mapping {
    var virtualAddress: UInt64
    var size: UInt64
    var physicalAddress: UInt64
    var protection: Protection
    func contains(_ address: UInt64) -> Bool {
      address >= virtualAddress && address - virtualAddress < size
    }
  }

  let seed: UInt64
  let operations: Int
  /// Unmap parts of mappings (splitting blocks and breaking runs), not only whole ones.
  let partialUnmaps: Bool
  /// Receives the reports of the run.
  let reports: @Sendable ([MMUReport]) -> Void

  func run<Format: PageTableFormat>(_ format: Format, _ protections: [Protection]) throws {
    let rig = try Rig(format, imageBytes: 64 << 20)
    let geometry = format.geometry
    let granule = geometry.granule
    let sizes = geometry.leafSizes.filter { $0 <= 1 << 30 }
    let largest = sizes.max() ?? granule
    let runSizes = geometry.levels.filter { $0.allowsLeaf && $0.contiguousRun > 1 }
      .map { $0.leafSize * UInt64($0.contiguousRun) }.filter { $0 <= 1 << 30 }
    let window = geometry.windows[0]
    var arena = (window.first &+ largest &- 1) & ~(largest &- 1)
    if arena == window.first { arena &+= largest }
    let arenaSize = min(largest * 4, window.last &- arena &+ 1)
    // Mappings smaller than the second-smallest leaf stay near each other, in a few
    // last-level tables' worth of addresses, so the tree stays small.
    let lastLevel = geometry.levels[geometry.levels.count - 1]
    let nearSize = min(arenaSize, lastLevel.coverage * 4)
    var random = SplitMix64(seed: seed)
    var mapped: [Mapping] = []

    func pick(_ count: Int) -> Int { Int(random.next() % UInt64(count)) }

    for _ in 0..<operations {
      switch random.next() % 10 {
      case 0..<4:
        var size: UInt64
        switch pick(3) {
        case 0: size = sizes[pick(sizes.count)]
        case 1: size = runSizes.isEmpty ? granule * 16 : runSizes[pick(runSizes.count)]
        default: size = granule * UInt64(1 + pick(40))
        }
        let space = size < lastLevel.coverage ? nearSize : arenaSize
        size = min(size, space)
        let alignment = size & (size - 1) == 0 ? size : granule
        let slots = (space - size) / alignment + 1
        let va = arena + (random.next() % slots) * alignment
        guard
          !mapped.contains(where: {
            $0.virtualAddress < va + size && va < $0.virtualAddress + $0.size
          })
        else { continue }
        let protection = protections[pick(protections.count)]
        let pa = dataBase + (va - arena)
        try rig.table.map(
          virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
        mapped.append(
          Mapping(virtualAddress: va, size: size, physicalAddress: pa, protection: protection))
      case 4..<7:
        guard !mapped.isEmpty else { continue }
        let victim = pick(mapped.count)
        let mapping = mapped[victim]
        var start = mapping.virtualAddress
        var size = mapping.size
        if partialUnmaps && mapping.size > granule && pick(3) != 0 {
          let pages = mapping.size / granule
          let first = random.next() % pages
          start = mapping.virtualAddress + first * granule
          size = (1 + random.next() % (pages - first)) * granule
        }
        try rig.unmapAndFlush(start, size)
        mapped.remove(at: victim)
        if start > mapping.virtualAddress {
          mapped.append(
            Mapping(
              virtualAddress: mapping.virtualAddress, size: start - mapping.virtualAddress,
              physicalAddress: mapping.physicalAddress, protection: mapping.protection))
        }
        let end = start + size
        if end < mapping.virtualAddress + mapping.size {
          mapped.append(
            Mapping(
              virtualAddress: end, size: mapping.virtualAddress + mapping.size - end,
              physicalAddress: mapping.physicalAddress + (end - mapping.virtualAddress),
              protection: mapping.protection))
        }
        // The driver gives the data pages back once the TLB no longer maps them.
        rig.mmu.pageFreed(
          physicalAddress: mapping.physicalAddress + (start - mapping.virtualAddress),
          byteCount: size)
      default:
        for _ in 0..<4 {
          let near = random.next() % 4 != 0
          let address = arena + (random.next() % ((near ? nearSize : arenaSize) / 8)) * 8
          if let mapping = mapped.first(where: { $0.contains(address) }) {
            let (kind, privilege) = allowedAccess(mapping.protection)
            let translation = try rig.mmu.access(address, kind, privilege, in: rig.space)
            #expect(
              translation.physicalAddress
                == mapping.physicalAddress + (address - mapping.virtualAddress))
          } else {
            #expect(throws: MMUFault.self) { try rig.mmu.access(address, in: rig.space) }
          }
        }
      }
      rig.mmu.checkQuiescent()
    }
    try rig.tearDown(mapped.map { ($0.virtualAddress, $0.size) })
    rig.mmu.checkQuiescent()
    reports(rig.mmu.reports)
  }
}
