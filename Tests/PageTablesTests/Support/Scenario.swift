import PageTables
import PageTablesTools
import Testing

/// The behaviours every format and configuration must show; run by
/// `FormatMatrixTests` over ``FormatCases/all``.
enum Scenario: String, CaseIterable, Sendable {
  /// Map one leaf of every size the format has: translate it, refuse a second map
  /// over it, unmap it, see it fault, map it again.
  case everyLeafSize
  /// Map the last page of every window; refuse a range that crosses the end.
  case topOfRange
  /// Refuse misaligned, empty, overflowing and out-of-range requests, changing nothing.
  case badArguments
  /// Unmap one page from the middle of the largest block: the rest stays mapped.
  case splitBlock
  /// Protect one page inside the largest block: only it changes, the rest keeps
  /// its protection and address; protect refuses what the format cannot express.
  case protectInPlace
  /// A scatter-gather map gets each piece's largest leaves; `split(at:)` makes a
  /// boundary after which unmapping either side needs no table memory.
  case scatterGatherAndSplit
  /// A block the hardware wrote stays dirty in every leaf after it is split by
  /// unmap, split(at:) and protect (x86 D, ARM64 DBM, RISC-V D).
  case dirtyStateSurvivesSplits
  /// Fault injection: a scatter-gather map, a protect and an unmap that splits a
  /// block, each with allocation N failing for every N until it succeeds: each
  /// failure changes nothing and leaves no table allocated.
  case faultInjection
  /// Thousands of random map, scatter-gather map, unmap, protect and split
  /// operations against a dictionary model.
  case randomModel
  /// The ready-made schemes: an identity map and a linear map of unaligned regions.
  case mappingSchemes
  /// A large map with the N-th table allocation failing, for every N.
  case tableFaultsInLargeMap
  /// A block split by unmap with the N-th table allocation failing, for every N.
  case tableFaultsInSplitUnmap
  /// An ``ExclusivePageTable`` and a shared ``PageTable`` given the same random
  /// operations agree on every result, translation and table count, also across
  /// conversions between the two forms.
  case exclusiveAgreesWithShared

  func run<Format: PageTableFormat>(_ format: Format, protections: [Protection]) throws {
    switch self {
    case .everyLeafSize: try everyLeafSize(format, protections[0])
    case .topOfRange: try topOfRange(format, protections[0])
    case .badArguments: try badArguments(format, protections[0])
    case .splitBlock: try splitBlock(format, protections[0])
    case .protectInPlace: try protectInPlace(format, protections)
    case .scatterGatherAndSplit: try scatterGatherAndSplit(format, protections[0])
    case .dirtyStateSurvivesSplits: try dirtyStateSurvivesSplits(format, protections)
    case .faultInjection: try faultInjection(format, protections)
    case .randomModel: try randomModel(format, protections)
    case .mappingSchemes: try mappingSchemes(format, protections[0])
    case .tableFaultsInLargeMap: try tableFaultsInLargeMap(format, protections[0])
    case .tableFaultsInSplitUnmap: try tableFaultsInSplitUnmap(format, protections[0])
    case .exclusiveAgreesWithShared: try exclusiveAgreesWithShared(format, protections)
    }
  }
}

/// Facts about a format the scenarios choose addresses with.
struct Layout {
  let granule: UInt64
  let window: VirtualWindow
  let outputLimit: UInt64
  let leafSizes: [UInt64]

  init(_ geometry: Geometry) {
    granule = geometry.granule
    window = geometry.windows[0]
    outputLimit = geometry.outputBits >= 64 ? ~0 : 1 << UInt64(geometry.outputBits)
    leafSizes = geometry.leafSizes
  }

  /// The first `size`-aligned address at least `size` into the window (so neither
  /// address 0 nor the window's first page is used), or nil if the window is too small.
  func virtualAddress(aligned size: UInt64) -> UInt64? {
    let aligned = (window.first &+ size &- 1) & ~(size &- 1)
    let candidate = aligned == window.first ? aligned &+ size : aligned
    guard candidate >= window.first, candidate &+ (size &- 1) <= window.last,
      candidate &+ size > candidate
    else { return nil }
    return candidate
  }

  /// Whether a leaf of `size` at physical address `size` (and `2 * size`) fits.
  func fitsOutput(_ size: UInt64) -> Bool { size <= outputLimit / 4 }

  /// A region for random operations, up to `count` "big" leaves wide (the smallest
  /// block, or 16 pages without blocks) from a big-aligned address: its start, size
  /// and the big leaf size; nil if it does not fit the window or the output.
  func randomRegion(bigLeaves count: UInt64) -> (start: UInt64, size: UInt64, big: UInt64)? {
    let big = leafSizes.reversed().first { $0 > granule } ?? granule * 16
    guard fitsOutput(big * 8), let start = virtualAddress(aligned: big) else { return nil }
    return (start, min(big * count, window.last - start + 1), big)
  }
}

extension Scenario {
  func everyLeafSize<Format: PageTableFormat>(_ format: Format, _ protection: Protection) throws {
    let layout = Layout(format.geometry)
    var checked = 0
    for size in layout.leafSizes where layout.fitsOutput(size) {
      guard let va = layout.virtualAddress(aligned: size) else { continue }
      let table = try makeTable(format, imageBytes: 8 << 20)
      let pa = size &* 2
      #expect(
        try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
          == size)
      let first = try #require(table.translate(va))
      #expect(first.physicalAddress == pa)
      #expect(first.pageSize == size, "a \(size)-byte request must map one \(size)-byte leaf")
      #expect(first.protection == protection)
      let lastByte = table.translate(va &+ size &- 1)
      #expect(lastByte?.physicalAddress == pa &+ size &- 1)
      // A second map over it, whole or in part, is refused and changes nothing.
      #expect(throws: PageTableError.alreadyMapped(virtualAddress: va)) {
        try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
      }
      #expect(throws: PageTableError.self) {
        try table.map(
          virtualAddress: va &+ size &- layout.granule, physicalAddress: pa,
          size: layout.granule, protection: protection)
      }
      #expect(table.translate(va)?.physicalAddress == pa)
      var gather = TLBGather(invalidator: RecordingTLB())
      #expect(try table.unmap(virtualAddress: va, size: size, gather: &gather) == size)
      table.flush(&gather)
      let tlb = gather.invalidator
      #expect(tlb.covers(va) && tlb.covers(va &+ size &- 1))
      #expect(table.translate(va) == nil)
      #expect(table.translate(va &+ size &- 1) == nil)
      // Remap, this time somewhere else.
      #expect(
        try table.map(virtualAddress: va, physicalAddress: size, size: size, protection: protection)
          == size)
      #expect(table.translate(va)?.physicalAddress == size)
      #expect(try unmapAndFlush(table, va, size) == size)
      #expect(table.memory.liveTables == table.rootCount, "emptied tables must be freed")
      checked += 1
    }
    #expect(checked > 0, "at least one leaf size must be testable")
  }

  func topOfRange<Format: PageTableFormat>(_ format: Format, _ protection: Protection) throws {
    let layout = Layout(format.geometry)
    let table = try makeTable(format)
    for window in format.geometry.windows {
      let va = window.last &- layout.granule &+ 1
      try table.map(
        virtualAddress: va, physicalAddress: layout.granule, size: layout.granule,
        protection: protection)
      #expect(table.translate(va)?.physicalAddress == layout.granule)
      #expect(table.translate(window.last)?.physicalAddress == layout.granule * 2 - 1)
      #expect(try unmapAndFlush(table, va, layout.granule) == layout.granule)
      #expect(table.translate(va) == nil)
      if window.last != ~0 {
        #expect(throws: PageTableError.virtualAddressOutOfRange(va)) {
          try table.map(
            virtualAddress: va, physicalAddress: 0, size: layout.granule * 2, protection: protection
          )
        }
      }
    }
    #expect(table.memory.liveTables == table.rootCount)
  }

  func badArguments<Format: PageTableFormat>(_ format: Format, _ protection: Protection) throws {
    let layout = Layout(format.geometry)
    let table = try makeTable(format)
    let g = layout.granule
    let va = try #require(layout.virtualAddress(aligned: g))
    #expect(throws: PageTableError.misalignedVirtualAddress(va + 8)) {
      try table.map(virtualAddress: va + 8, physicalAddress: 0, size: g, protection: protection)
    }
    #expect(throws: PageTableError.misalignedPhysicalAddress(g + 8)) {
      try table.map(virtualAddress: va, physicalAddress: g + 8, size: g, protection: protection)
    }
    #expect(throws: PageTableError.misalignedSize(g + 8)) {
      try table.map(virtualAddress: va, physicalAddress: 0, size: g + 8, protection: protection)
    }
    #expect(throws: PageTableError.zeroSize) {
      try table.map(virtualAddress: va, physicalAddress: 0, size: 0, protection: protection)
    }
    #expect(throws: PageTableError.self) {
      try table.map(
        virtualAddress: ~(g - 1), physicalAddress: 0, size: 2 * g, protection: protection)
    }
    if layout.outputLimit != ~0 {
      #expect(throws: PageTableError.physicalAddressOutOfRange(layout.outputLimit - g)) {
        try table.map(
          virtualAddress: va, physicalAddress: layout.outputLimit - g, size: 2 * g,
          protection: protection)
      }
    }
    if let gap = Self.addressOutsideWindows(format.geometry) {
      #expect(throws: PageTableError.virtualAddressOutOfRange(gap)) {
        try table.map(virtualAddress: gap, physicalAddress: 0, size: g, protection: protection)
      }
      #expect(table.translate(gap) == nil)
    }
    var gather = TLBGather(invalidator: RecordingTLB())
    #expect(throws: PageTableError.zeroSize) {
      try table.unmap(virtualAddress: va, size: 0, gather: &gather)
    }
    table.flush(&gather)
    #expect(table.dump().isEmpty, "refused requests change nothing")
    #expect(table.memory.liveTables == table.rootCount)
  }

  static func addressOutsideWindows(_ geometry: Geometry) -> UInt64? {
    let g = geometry.granule
    let candidates: [UInt64] = geometry.windows.flatMap { [$0.first &- g, $0.last &+ 1] }
    return candidates.first { c in
      c & (g - 1) == 0 && !geometry.windows.contains { $0.contains(c) }
        && !geometry.windows.contains { $0.contains(c &+ g &- 1) }
    }
  }

  func splitBlock<Format: PageTableFormat>(_ format: Format, _ protection: Protection) throws {
    let layout = Layout(format.geometry)
    guard
      let size = layout.leafSizes.first(where: { $0 > layout.granule && layout.fitsOutput($0) }),
      let va = layout.virtualAddress(aligned: size)
    else { return }  // a format without blocks has nothing to split
    let table = try makeTable(format)
    let pa = size
    try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
    let hole = va + size / 2
    #expect(try unmapAndFlush(table, hole, layout.granule) == layout.granule)
    #expect(table.translate(hole) == nil)
    #expect(table.translate(va)?.physicalAddress == pa)
    #expect(table.translate(hole - 1)?.physicalAddress == pa + size / 2 - 1)
    #expect(
      table.translate(hole + layout.granule)?.physicalAddress == pa + size / 2 + layout.granule)
    #expect(table.translate(va + size - 1)?.physicalAddress == pa + size - 1)
    #expect(table.translate(va)?.protection == protection)
    #expect(try unmapAndFlush(table, va, size) == size - layout.granule)
    #expect(table.dump().isEmpty)
    #expect(table.memory.liveTables == table.rootCount)
  }

  func randomModel<Format: PageTableFormat>(_ format: Format, _ protections: [Protection]) throws {
    let layout = Layout(format.geometry)
    let g = layout.granule
    guard let (regionStart, regionSize, big) = layout.randomRegion(bigLeaves: 8) else { return }
    let pages = regionSize / g
    let outputPages = min(layout.outputLimit / 4, regionSize * 4) / g
    var model: [UInt64: (pa: UInt64, protection: Int)] = [:]
    var random = SplitMix64(seed: 0x5EED ^ UInt64(truncatingIfNeeded: layout.leafSizes.count))
    let table = try makeTable(format)

    func check(_ page: UInt64) {
      let va = regionStart + page * g
      let found = table.translate(va + g / 2)
      if let expected = model[page] {
        #expect(
          found?.physicalAddress == expected.pa + g / 2,
          "page \(page) at 0x\(String(va, radix: 16))")
        #expect(
          Self.sameRights(found?.protection, protections[expected.protection]),
          "page \(page): \(String(describing: found?.protection))")
      } else {
        #expect(found == nil, "page \(page) at 0x\(String(va, radix: 16)) must fault")
      }
    }

    /// Every mapped page, and every other page of a small region or a random sample
    /// of a large one (a 64 KiB-granule region has 65,536 pages).
    func checkRegion(samples: UInt64) {
      for page in model.keys { check(page) }
      if pages <= samples * 2 {
        for page in 0..<pages where model[page] == nil { check(page) }
      } else {
        for _ in 0..<samples { check(random.next() % pages) }
        check(0)
        check(pages - 1)
      }
    }

    for step in 0..<600 {
      let bigRange = random.next() % 3 == 0
      let count = bigRange ? (big / g) * (1 + random.next() % 2) : 1 + random.next() % 16
      let align = bigRange ? big / g : 1
      guard count <= pages else { continue }
      let first = (random.next() % (pages - count + 1)) / align * align
      let operation = random.next() % 8
      if operation == 0 {
        // Protect: mapped pages take the new protection, holes stay holes.
        let protection = Int(random.next() % UInt64(protections.count))
        var gather = TLBGather(invalidator: RecordingTLB())
        let bytes = try table.protect(
          virtualAddress: regionStart + first * g, size: count * g,
          protection: protections[protection], gather: &gather)
        table.flush(&gather)
        let mapped = (first..<first + count).filter { model[$0] != nil }
        #expect(bytes == UInt64(mapped.count) * g, "step \(step): protect reports mapped bytes")
        for page in mapped { model[page]!.protection = protection }
      } else if operation == 1 {
        // Split somewhere: nothing changes.
        var gather = TLBGather(invalidator: RecordingTLB())
        try table.split(at: regionStart + first * g, gather: &gather)
        table.flush(&gather)
      } else if operation == 2 && count > 1 {
        // A scatter-gather map of two or three pieces.
        let protection = Int(random.next() % UInt64(protections.count))
        var cuts = [0, count]
        cuts.append(1 + random.next() % (count - 1))
        if count > 2 { cuts.append(1 + random.next() % (count - 1)) }
        cuts = Array(Set(cuts)).sorted()
        var pieces: [PhysicalSegment] = []
        var physical: [UInt64] = []
        for (a, b) in zip(cuts, cuts.dropFirst()) {
          let length = b - a
          let paPage = (random.next() % (outputPages - length)) / align * align
          pieces.append(PhysicalSegment(physicalAddress: paPage * g, size: length * g))
          physical += (0..<length).map { (paPage + $0) * g }
        }
        let occupied = (first..<first + count).contains { model[$0] != nil }
        do {
          try table.map(
            virtualAddress: regionStart + first * g, segments: pieces,
            protection: protections[protection])
          #expect(!occupied, "step \(step): scatter-gather map over a mapping must be refused")
          for k in 0..<count { model[first + k] = (physical[Int(k)], protection) }
        } catch {
          guard case .alreadyMapped = error else { throw error }
          #expect(occupied, "step \(step): refused a scatter-gather map over free pages")
        }
      } else if operation % 3 != 0 {
        let paPage = (random.next() % (outputPages - count)) / align * align
        let protection = Int(random.next() % UInt64(protections.count))
        let occupied = (first..<first + count).contains { model[$0] != nil }
        do {
          try table.map(
            virtualAddress: regionStart + first * g, physicalAddress: paPage * g, size: count * g,
            protection: protections[protection])
          #expect(!occupied, "step \(step): map over a mapping must be refused")
          for k in 0..<count { model[first + k] = ((paPage + k) * g, protection) }
        } catch {
          guard case .alreadyMapped = error else { throw error }
          #expect(occupied, "step \(step): refused a map over free pages")
        }
      } else {
        let expected = (first..<first + count).filter { model[$0] != nil }.count
        let bytes = try unmapAndFlush(table, regionStart + first * g, count * g)
        #expect(bytes == UInt64(expected) * g, "step \(step): unmap reports bytes that were mapped")
        for k in first..<first + count { model[k] = nil }
      }
      for page in [first, first + count - 1, first + random.next() % count] { check(page) }
      if step % 200 == 199 { checkRegion(samples: 512) }
    }
    checkRegion(samples: 4096)
    // The dump agrees with the model.
    let dumped = table.dump().reduce(0) { $0 + $1.size }
    #expect(dumped == UInt64(model.count) * g)
    try unmapAndFlush(table, regionStart, regionSize)
    #expect(table.dump().isEmpty)
    #expect(table.memory.liveTables == table.rootCount, "no table page may be left allocated")
  }
}

extension Scenario {
  /// ``IdentityMap`` and ``LinearMap``: regions widened to whole pages, translated
  /// where the scheme puts them with the largest leaf the alignment allows, refused
  /// (typed, nothing changed) where the window cannot hold them.
  func mappingSchemes<Format: PageTableFormat>(_ format: Format, _ protection: Protection) throws {
    let layout = Layout(format.geometry)
    let g = layout.granule
    let table = try makeTable(format, imageBytes: 8 << 20)
    let identity = IdentityMap(table: table)
    if let va = layout.virtualAddress(aligned: g), va < layout.outputLimit / 2 {
      // [va + 3, va + 3 + 2g) covers three pages.
      let run = try identity.map(va &+ 3, size: 2 * g, protection: protection)
      #expect(run.virtualAddress == va && run.physicalAddress == va && run.size == 3 * g)
      for offset in [0, g, 3 * g - 1] {
        #expect(table.translate(va &+ offset)?.physicalAddress == va &+ offset)
      }
      #expect(throws: PageTableError.alreadyMapped(virtualAddress: va)) {
        try identity.map(va, size: g, protection: protection)
      }
      #expect(try unmapAndFlush(table, va, 3 * g) == 3 * g)
    } else {
      // The window lies above the output size: no address can map to itself.
      #expect(throws: PageTableError.self) {
        try identity.map(layout.window.first, size: g, protection: protection)
      }
    }
    #expect(throws: PageTableError.zeroSize) {
      try identity.map(0, size: 0, protection: protection)
    }
    #expect(throws: PageTableError.addressOverflow(address: ~1, size: 4)) {
      try identity.map(~1, size: 4, protection: protection)
    }

    // A linear map whose offset keeps the largest leaf's alignment.
    #expect(throws: PageTableError.misalignedVirtualAddress(g / 2)) {
      try LinearMap(table: table, offset: g / 2)
    }
    let size =
      layout.leafSizes.filter { size in
        guard layout.fitsOutput(size), let va = layout.virtualAddress(aligned: size) else {
          return false
        }
        return va &+ (2 * size &- 1) <= layout.window.last && va &+ 2 * size > va
      }.max() ?? g
    let va = try #require(layout.virtualAddress(aligned: size))
    let linear = try LinearMap(table: table, offset: va &- size)
    let run = try linear.map(physicalAddress: size &+ 5, size: size, protection: protection)
    #expect(run.virtualAddress == va && run.physicalAddress == size && run.size == size + g)
    let first = try #require(table.translate(linear.virtualAddress(of: size &+ 0x10)))
    #expect(first.physicalAddress == size &+ 0x10)
    #expect(first.pageSize == size, "aligned addresses take the largest leaf")
    #expect(linear.physicalAddress(of: va &+ size) == 2 * size)
    #expect(table.translate(va &+ size)?.physicalAddress == 2 * size)
    #expect(try unmapAndFlush(table, va, size + g) == size + g)
    #expect(table.memory.liveTables == table.rootCount)
  }
}
