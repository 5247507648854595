import PageTables
import PageTablesTools
import Testing

extension Scenario {
  /// Runs the same random operations (map, scatter-gather map, unmap, protect,
  /// split) on a shared ``PageTable`` and on an ``ExclusivePageTable`` over equal
  /// memories: every call must give the same result or error, every sampled address
  /// the same translation, both memories the same number of live tables (the
  /// exclusive form frees emptied tables at its flush, the shared one once no
  /// operation can reach them), and halfway the exclusive table goes back to the
  /// shared form and is taken again without changing anything.
  func exclusiveAgreesWithShared<Format: PageTableFormat>(
    _ format: Format, _ protections: [Protection]
  ) throws {
    let layout = Layout(format.geometry)
    let g = layout.granule
    guard let (regionStart, regionSize, big) = layout.randomRegion(bigLeaves: 4) else { return }
    let pages = regionSize / g
    let outputPages = min(layout.outputLimit / 4, regionSize * 4) / g
    let shared = try makeTable(format)
    var exclusive = try ExclusivePageTable(
      format: format, memory: ImageTableMemory(base: 0x4000_0000, byteCount: 32 << 20),
      options: PageTableOptions(trapOnLeakedMappings: true))
    var random = SplitMix64(seed: 0xE8C1 ^ UInt64(truncatingIfNeeded: layout.leafSizes.count))

    /// The same call on both forms: equal results, or equal errors.
    func both<R: Equatable>(
      _ step: Int, _ what: String, _ exclusive: inout ExclusivePageTable<Format, ImageTableMemory>,
      _ onShared: () throws(PageTableError) -> R,
      _ onExclusive: (inout ExclusivePageTable<Format, ImageTableMemory>) throws(PageTableError) ->
        R
    ) {
      let a = Result { () throws(PageTableError) in try onShared() }
      let b = Result { () throws(PageTableError) in try onExclusive(&exclusive) }
      #expect(a == b, "step \(step): \(what)")
    }

    func compare(
      _ step: Int, page: UInt64, _ exclusive: borrowing ExclusivePageTable<Format, ImageTableMemory>
    ) {
      let va = regionStart + page * g + g / 2
      #expect(
        shared.translate(va) == exclusive.translate(va),
        "step \(step): page \(page) translates alike")
    }

    for step in 0..<300 {
      let bigRange = random.next() % 3 == 0
      let count = bigRange ? (big / g) * (1 + random.next() % 2) : 1 + random.next() % 16
      let align = bigRange ? big / g : 1
      guard count <= pages else { continue }
      let first = (random.next() % (pages - count + 1)) / align * align
      let va = regionStart + first * g
      let size = count * g
      let protection = protections[Int(random.next() % UInt64(protections.count))]
      switch random.next() % 6 {
      case 0:
        both(step, "protect", &exclusive) { () throws(PageTableError) in
          var gather = TLBGather(invalidator: RecordingTLB())
          let bytes = try shared.protect(
            virtualAddress: va, size: size, protection: protection, gather: &gather)
          shared.flush(&gather)
          return bytes
        } _: { table throws(PageTableError) in
          var gather = TLBGather(invalidator: RecordingTLB())
          let bytes = try table.protect(
            virtualAddress: va, size: size, protection: protection, gather: &gather)
          table.flush(&gather)
          return bytes
        }
      case 1:
        both(step, "split", &exclusive) { () throws(PageTableError) in
          var gather = TLBGather(invalidator: RecordingTLB())
          let changed = try shared.split(at: va, gather: &gather)
          shared.flush(&gather)
          return changed
        } _: { table throws(PageTableError) in
          var gather = TLBGather(invalidator: RecordingTLB())
          let changed = try table.split(at: va, gather: &gather)
          table.flush(&gather)
          return changed
        }
      case 2 where count > 1:
        let cut = 1 + random.next() % (count - 1)
        let pa1 = (random.next() % (outputPages - cut)) / align * align * g
        let pa2 = (random.next() % (outputPages - (count - cut))) / align * align * g
        let pieces = [
          PhysicalSegment(physicalAddress: pa1, size: cut * g),
          PhysicalSegment(physicalAddress: pa2, size: (count - cut) * g),
        ]
        both(step, "scatter-gather map", &exclusive) { () throws(PageTableError) in
          try shared.map(virtualAddress: va, segments: pieces, protection: protection)
        } _: { table throws(PageTableError) in
          try table.map(virtualAddress: va, segments: pieces, protection: protection)
        }
      case 3, 4:
        let pa = (random.next() % (outputPages - count)) / align * align * g
        both(step, "map", &exclusive) { () throws(PageTableError) in
          try shared.map(
            virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
        } _: { table throws(PageTableError) in
          try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
        }
      default:
        both(step, "unmap", &exclusive) { () throws(PageTableError) in
          var gather = TLBGather(invalidator: RecordingTLB())
          let bytes = try shared.unmap(virtualAddress: va, size: size, gather: &gather)
          shared.flush(&gather)
          return bytes
        } _: { table throws(PageTableError) in
          var gather = TLBGather(invalidator: RecordingTLB())
          let bytes = try table.unmap(virtualAddress: va, size: size, gather: &gather)
          table.flush(&gather)
          return bytes
        }
      }
      for page in [first, first + count - 1, random.next() % pages] {
        compare(step, page: page, exclusive)
      }
      #expect(
        shared.memory.liveTables == exclusive.memory.liveTables,
        "step \(step): both forms hold the same tables")
      if step == 150 {
        // To the shared form and back: the only reference, so nothing refuses.
        let back = exclusive.shared()
        #expect(back.translate(va) == shared.translate(va))
        exclusive = try ExclusivePageTable(consume back)
      }
    }
    for page in 0..<min(pages, 4096) { compare(300, page: page, exclusive) }
    #expect(shared.dump() == exclusive.dump())
    try unmapAndFlush(shared, regionStart, regionSize)
    var gather = TLBGather(invalidator: RecordingTLB())
    try exclusive.unmap(virtualAddress: regionStart, size: regionSize, gather: &gather)
    exclusive.flush(&gather)
    #expect(exclusive.dump().isEmpty)
    #expect(exclusive.memory.liveTables == exclusive.rootCount, "emptied tables are freed at flush")
  }
}
