import PageTables

/// What one probe must find, as the library's `translate` predicts it.
public struct ProbeExpectation: Sendable {
  /// Why the probe is there.
  public enum Role: Sendable {
    /// Compared with the hardware.
    case check
    /// The control experiment: probed after an unmap *without* TLB invalidation.
    /// Not compared; a stale translation here shows the TLB check can fail.
    case controlWithoutInvalidation
  }

  /// The probed address.
  public let address: UInt64
  /// What the probe is (`first byte of 2 MiB leaf`, `hole`, …).
  public let label: String
  /// The access kinds the guest performs, in its order.
  public let kinds: [ProbeKind]
  /// One expectation per kind.
  public let expected: [ExpectedOutcome]
  /// The library's translation (engine mode: the guest prints its own).
  public let translation: Translation?
  /// Why the address is probed.
  public let role: Role
}

/// How test mappings choose physical addresses.
enum PhysicalPolicy {
  /// Anywhere below `2^bits` (ARM `AT` reports the address without touching memory).
  case anywhere(bits: Int)
  /// Inside the machine's tagged pool; leaves larger than the pool may go to
  /// physical address 0 (`giantsAtZero`) or are not mapped.
  case pool(giantsAtZero: Bool)
}

/// Builds one guest run: random mappings made with the library, the probes, and
/// each probe's expected outcome from the library's `translate`.
final class PlanGenerator<Format: PageTableFormat> {
  let format: Format
  let machine: GuestMachine
  let mode: GuestPlan.Mode
  let kinds: [ProbeKind]
  let physical: PhysicalPolicy
  let identity: Bool
  /// The MAIR attribute an `AT` must report for a leaf (stage 1), if checked.
  let attribute: ((Protection) -> UInt8)?
  let table: PageTable<Format, ImageTableMemory>
  let memory: ImageTableMemory
  var random: SplitMix64
  var plan: GuestPlan

  /// Test mappings still in place (`virtualAddress`, `size`).
  var mappings: [MappingRun] = []
  /// Virtual ranges used by mappings (including removed ones) or reserved.
  var used: [Range<UInt64>] = []
  var holes: [Range<UInt64>] = []
  /// Mappings kept whole (one leaf of each size), so every size stays in the tables.
  var intact: Set<UInt64> = []
  var probes: [ProbeExpectation] = []
  /// Steps before activation (engine mode: maps and unmaps) and after.
  var setupSteps: [GuestPlan.Step] = []
  var probeSteps: [GuestPlan.Step] = []
  var tags: [UInt64: UInt64] = [:]
  var protections: [Protection] = []
  var counts = (maps: 0, holes: 0, protects: 0, unmapChecks: 0, controlPages: 0)
  /// Leaf sizes found in the finished tables, leaves in contiguous runs, and
  /// protections used by test mappings.
  var leafSizes: Set<UInt64> = []
  var contiguousLeaves = 0
  var protectionsUsed: Set<Protection> = []

  init(
    format: Format, machine: GuestMachine, mode: GuestPlan.Mode, kinds: [ProbeKind],
    physical: PhysicalPolicy, identity: Bool, attribute: ((Protection) -> UInt8)?, seed: UInt64
  ) throws(PageTableError) {
    self.format = format
    self.machine = machine
    self.mode = mode
    self.kinds = kinds
    self.physical = physical
    self.identity = identity
    self.attribute = attribute
    let base = mode == .prebuilt ? machine.imageBase : machine.engineTableBase
    let bytes = mode == .prebuilt ? machine.imageBytes : Int(machine.engineTableBytes)
    // The machine's table region is whole pages well below 2^64.
    self.memory = try! ImageTableMemory(base: base, byteCount: bytes)
    self.table = try PageTable(
      format: format, memory: memory, options: PageTableOptions(leakReporter: { _ in }))
    self.random = SplitMix64(seed: seed)
    self.plan = GuestPlan(mode: mode)
  }

  var geometry: Geometry { format.geometry }

  /// Tag stored at (8-byte aligned) physical address `address`.
  static func tag(_ address: UInt64) -> UInt64 { (address & ~7) ^ 0x7A67_0000_0000_0000 }

  // MARK: Generating

  /// Makes the mappings, holes and probes, and assembles the plan's steps.
  func generate() throws(PageTableError) {
    protections = (Self.allProtections + attributeVariants()).filter { protection in
      geometry.levels.indices.allSatisfy { level in
        !geometry.levels[level].allowsLeaf
          || (try? format.leafTemplate(for: protection, level: level)) != nil
      }
    }
    guard !protections.isEmpty else { throw .unsupportedProtection(.readWrite) }
    used.append(machine.reservedVirtual)
    if identity {
      for region in machine.identityRegions {
        try map(
          region.virtualAddress, region.physicalAddress, region.size, region.protection,
          test: false)
      }
    }
    try makeMappings()
    try makeProtectionPages()
    try makeHoles()
    try makeProtects()
    makeProbes()
    if mode == .engine {
      try makeUnmapChecks()
      try makeControlExperiment()
    }
    assemble()
  }

  /// Leaf attributes beyond the permissions, on read-write and user read-write
  /// pages: the widest OS (software) bits the format takes (the hardware must
  /// ignore them: the page translates as without them), every attribute index it
  /// takes (ARM64 `AT` reports the attribute it selects), and, on machines whose
  /// MMU sets the access flag itself (x86-64, RISC-V on QEMU), a clear access flag.
  /// Each is in the form `translate` reports it (an index naming a built-in memory
  /// type reads back as that type), without duplicates.
  func attributeVariants() -> [Protection] {
    let pageLevel = geometry.levels.count - 1
    func accepted(_ protection: Protection) -> Protection? {
      guard let template = try? format.leafTemplate(for: protection, level: pageLevel) else {
        return nil
      }
      let entry = format.leafEntry(template: template, physicalAddress: 0, level: pageLevel)
      return format.protection(of: entry, level: pageLevel)
    }
    var variants: [Protection] = []
    for var base in [Protection.readWrite, Protection(write: true, user: true)] {
      if let widest = [UInt16(0x3FF), 0xF, 0x3].lazy.compactMap({ bits -> Protection? in
        base.softwareBits = bits
        return accepted(base)
      }).first {
        variants.append(widest)
      }
      base.softwareBits = 0
      for index in UInt8(0)...7 {
        base.attributeIndex = index
        if let indexed = accepted(base), indexed.attributeIndex != nil {
          variants.append(indexed)
        }
      }
      base.attributeIndex = nil
      base.accessed = false
      if machine.architecture != .aarch64, let unaccessed = accepted(base) {
        variants.append(unaccessed)
      }
    }
    var seen: Set<Protection> = []
    return variants.filter { seen.insert($0).inserted }
  }

  /// Every combination of the protection fields; the format keeps those it can express.
  static var allProtections: [Protection] {
    var all: [Protection] = []
    for bits in 0..<32 {
      for type in MemoryType.allCases {
        all.append(
          Protection(
            read: bits & 1 != 0, write: bits & 2 != 0, execute: bits & 4 != 0,
            user: bits & 8 != 0, global: bits & 16 != 0, memoryType: type))
      }
    }
    return all
  }

  /// Maps on the host table and, in engine mode, records the step for the guest.
  func map(_ va: UInt64, _ pa: UInt64, _ size: UInt64, _ protection: Protection, test: Bool)
    throws(PageTableError)
  {
    try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
    // The guest maps the regions it runs from with the engine's IdentityMap scheme.
    let step = GuestPlan.Step(
      operation: !test && va == pa ? .identityMap : .map,
      operands: (va, pa, size, GuestPlan.bits(protection)))
    if mode == .engine { setupSteps.append(step) }
    used.append(va..<va &+ size)
    if test {
      mappings.append(
        MappingRun(virtualAddress: va, physicalAddress: pa, size: size, protection: protection))
      counts.maps += 1
    }
  }

  /// Unmaps on the host table (the guest does the same, with its TLB instructions).
  func unmap(_ va: UInt64, _ size: UInt64) throws(PageTableError) {
    var gather = TLBGather(invalidator: HostTLB())
    try table.unmap(virtualAddress: va, size: size, gather: &gather)
    table.flush(&gather)
  }

  func pick(_ bound: UInt64) -> UInt64 { bound == 0 ? 0 : random.next() % bound }

  /// A free, `alignment`-aligned virtual range of `size` bytes in one of the windows.
  func freeVirtualRange(size: UInt64, alignment: UInt64) -> UInt64? {
    for _ in 0..<64 {
      let window = geometry.windows[Int(pick(UInt64(geometry.windows.count)))]
      let span = window.last &- window.first
      guard span >= size else { continue }
      let slots = (span &- size) / alignment
      let va = ((window.first &+ alignment &- 1) & ~(alignment &- 1)) &+ pick(slots) &* alignment
      guard va >= window.first, va &+ (size &- 1) <= window.last, va &+ size > va else {
        continue
      }
      let range = va..<va &+ size
      if used.contains(where: { $0.overlaps(range) }) { continue }
      return va
    }
    return nil
  }

  /// A physical address for `size` bytes aligned to `alignment`, or nil.
  func physicalAddress(size: UInt64, alignment: UInt64) -> UInt64? {
    switch physical {
    case .anywhere(let bits):
      // Half low (below 1 TiB), half anywhere the output size allows.
      let limitBits = pick(2) == 0 ? min(bits, 40) : bits
      let limit: UInt64 = limitBits >= 64 ? ~0 : 1 << UInt64(limitBits)
      guard limit >= size else { return nil }
      return pick((limit - size) / alignment + 1) * alignment
    case .pool(let giantsAtZero):
      let pool = machine.targetPool
      let first = (pool.lowerBound + alignment - 1) & ~(alignment - 1)
      if first < pool.upperBound, pool.upperBound - first >= size {
        return first + pick((pool.upperBound - first - size) / alignment + 1) * alignment
      }
      return giantsAtZero ? 0 : nil
    }
  }

  func randomProtection() -> Protection { protections[Int(pick(UInt64(protections.count)))] }

  /// Leaves of every size (several of each), multi-leaf ranges, contiguous runs and
  /// ranges that start and end in the middle of a block.
  func makeMappings() throws(PageTableError) {
    let levels = geometry.levels
    for level in levels.indices where levels[level].allowsLeaf {
      let leaf = levels[level].leafSize
      var shapes: [(size: UInt64, alignment: UInt64, offset: UInt64)] = []
      let copies = leaf >= 1 << 39 ? 2 : 3
      for _ in 0..<copies { shapes.append((leaf, leaf, 0)) }
      shapes.append((leaf * (2 + pick(2)), leaf, 0))
      let run = UInt64(levels[level].contiguousRun)
      if run > 1 {
        shapes.append((leaf * run, leaf * run, 0))  // one contiguous run
        shapes.append((leaf * run * 2, leaf * run, 0))  // two runs
        shapes.append((leaf * (run + 1), leaf * run, leaf))  // misaligned: no run
      }
      if level + 1 < levels.count {
        // Half a block of smaller leaves, a whole block, and half a block again.
        shapes.append((leaf * 2, leaf, leaf / 2))
      }
      for (index, shape) in shapes.enumerated() {
        guard
          let base = freeVirtualRange(
            size: shape.size + shape.alignment, alignment: shape.alignment),
          let pa = physicalAddress(size: shape.size + shape.alignment, alignment: shape.alignment)
        else { continue }
        try map(base + shape.offset, pa + shape.offset, shape.size, randomProtection(), test: true)
        if index == 0 { intact.insert(base + shape.offset) }
      }
    }
  }

  /// One page for every protection the format can express, so that each
  /// combination is probed in every run.
  func makeProtectionPages() throws(PageTableError) {
    let granule = geometry.granule
    for protection in protections {
      guard let va = freeVirtualRange(size: granule, alignment: granule),
        let pa = physicalAddress(size: granule, alignment: granule)
      else { continue }
      try map(va, pa, granule, protection, test: true)
      intact.insert(va)
    }
  }

  /// Unmaps a granule from the middle of some blocks and runs (splitting them) and a
  /// whole leaf from some multi-leaf mappings.
  func makeHoles() throws(PageTableError) {
    let granule = geometry.granule
    var chosen: [MappingRun] = []
    for mapping in mappings
    where mapping.size > granule && !intact.contains(mapping.virtualAddress) && pick(2) == 0 {
      chosen.append(mapping)
    }
    for mapping in chosen.prefix(8) {
      let pages = mapping.size / granule
      let start = mapping.virtualAddress + (1 + pick(pages - 2)) * granule
      let size =
        granule * (1 + pick(min(3, (mapping.virtualAddress + mapping.size - start) / granule)))
      let hole = start..<min(start + size, mapping.virtualAddress + mapping.size - granule)
      guard !hole.isEmpty else { continue }
      try unmap(hole.lowerBound, UInt64(hole.count))
      if mode == .engine {
        setupSteps.append(
          GuestPlan.Step(operation: .unmap, operands: (hole.lowerBound, UInt64(hole.count), 0, 0)))
      }
      holes.append(hole)
      counts.holes += 1
    }
  }

  /// The test mappings and holes, one per line.
  var mappingDescription: String {
    var lines = mappings.map {
      "map \(Formatting.hex($0.virtualAddress)) -> \(Formatting.hex($0.physicalAddress)) "
        + "\(Formatting.size($0.size)) \(Formatting.protection($0.protection))"
    }
    lines += holes.map {
      "hole \(Formatting.hex($0.lowerBound)) \(Formatting.size(UInt64($0.count)))"
    }
    return lines.joined(separator: "\n") + "\n"
  }

  // MARK: Probes

  /// A probe of `address` with every kind, expectations from the current table.
  func probe(_ address: UInt64, _ label: String, role: ProbeExpectation.Role = .check) {
    let translation = table.translate(address)
    var kindsUsed: [ProbeKind] = []
    var expected: [ExpectedOutcome] = []
    var storeValue: UInt64 = 0
    for kind in kinds {
      guard let translation else {
        kindsUsed.append(kind)
        expected.append(.faultsUnmapped)
        continue
      }
      guard kind.permits(translation.protection) else {
        kindsUsed.append(kind)
        expected.append(.faultsOnPermission)
        continue
      }
      let pa = translation.physicalAddress & ~7
      let tagged = machine.targetPool.contains(pa) && isPoolPolicy
      if tagged { storeValue = Self.tag(pa) }
      switch kind.mechanism {
      case .addressTranslation:
        expected.append(
          .translates(
            physicalAddress: translation.physicalAddress,
            attribute: attribute?(translation.protection)))
      case .load:
        if tagged {
          tags[pa] = Self.tag(pa)
          expected.append(.loads(Self.tag(pa)))
        } else {
          expected.append(.loadsUntagged)
        }
      case .store:
        // Only stores that land on the tag itself: they rewrite it unchanged.
        guard tagged else { continue }
        tags[pa] = Self.tag(pa)
        expected.append(.stores)
      }
      kindsUsed.append(kind)
    }
    var mask: UInt64 = 0
    for kind in kindsUsed { mask |= 1 << UInt64(kind.guestKind) }
    probeSteps.append(GuestPlan.Step(operation: .probe, operands: (address, mask, storeValue, 0)))
    probes.append(
      ProbeExpectation(
        address: address, label: label, kinds: kindsUsed, expected: expected,
        translation: translation, role: role))
  }

  /// Host-built tables: changes the protection of part of some test mappings in
  /// place with `protect` (splitting the blocks and runs the range cuts), and
  /// probes the changed range's edges, so the hardware checks the rights and
  /// memory types `protect` leaves behind. The guest engine has no protect step,
  /// so engine runs do not protect.
  func makeProtects() throws(PageTableError) {
    guard mode == .prebuilt, protections.count > 1 else { return }
    let granule = geometry.granule
    var chosen: [MappingRun] = []
    for mapping in mappings where !intact.contains(mapping.virtualAddress) && pick(2) == 0 {
      chosen.append(mapping)
    }
    for mapping in chosen.prefix(6) {
      let pages = mapping.size / granule
      let first = pick(pages)
      let start = mapping.virtualAddress + first * granule
      let size = granule * (1 + pick(min(4, pages - first)))
      var protection = randomProtection()
      if protection == mapping.protection {
        let index = protections.firstIndex(of: protection) ?? 0
        protection = protections[(index + 1) % protections.count]
      }
      var gather = TLBGather(invalidator: HostTLB())
      try table.protect(
        virtualAddress: start, size: size, protection: protection, gather: &gather)
      table.flush(&gather)
      probe(start, "first byte of a protected range")
      probe(start + size - 1, "last byte of a protected range")
      counts.protects += 1
    }
  }

  var isPoolPolicy: Bool {
    if case .pool = physical { return true }
    return false
  }

  /// Leaf edges, interiors, holes, neighbours, random and out-of-range addresses.
  func makeProbes() {
    // Every leaf's first and last byte (a sample when there are very many).
    let format = self.format
    var leaves = LeafCollector(isContiguous: { format.isContiguous($0, level: $1) })
    table.walkAll(visitor: &leaves)
    var testLeaves = leaves.leaves.filter { leaf in
      mappings.contains { $0.virtualAddress <= leaf.va && leaf.va < $0.virtualAddress + $0.size }
    }
    leafSizes = Set(testLeaves.map(\.size))
    contiguousLeaves = testLeaves.filter(\.contiguous).count
    protectionsUsed = Set(mappings.map(\.protection))
    // Split blocks leave hundreds of leaves of one size: keep a sample of each size.
    var sample: [Leaf] = []
    for size in Set(testLeaves.map(\.size)).sorted() {
      let ofSize = testLeaves.filter { $0.size == size }
      if ofSize.count <= 96 {
        sample += ofSize
      } else {
        let keep = Set((0..<96).map { _ in Int(pick(UInt64(ofSize.count))) })
        sample += keep.sorted().map { ofSize[$0] }
      }
    }
    testLeaves = sample
    for leaf in testLeaves {
      let name = "\(Formatting.size(leaf.size)) leaf\(leaf.contiguous ? " (contiguous run)" : "")"
      probe(leaf.va, "first byte of \(name)")
      probe(leaf.va + leaf.size - 1, "last byte of \(name)")
    }
    // A random byte inside each mapping, and one that lands on tagged RAM if the
    // mapping's physical range reaches the pool.
    for mapping in mappings {
      probe(mapping.virtualAddress + pick(mapping.size), "inside a mapping")
      let pool = machine.targetPool
      let start = max(pool.lowerBound, mapping.physicalAddress)
      let end = min(pool.upperBound, mapping.physicalAddress &+ mapping.size)
      if isPoolPolicy, start < end, mapping.physicalAddress < pool.lowerBound {
        let pa = start + (pick(min(end - start, 1 << 30)) & ~7)
        probe(mapping.virtualAddress + (pa - mapping.physicalAddress), "inside a mapping, on RAM")
      }
      if mapping.virtualAddress > 0 { probe(mapping.virtualAddress - 1, "byte before a mapping") }
      probe(mapping.virtualAddress &+ mapping.size, "byte after a mapping")
    }
    for hole in holes {
      probe(hole.lowerBound, "first byte of a hole")
      probe(hole.upperBound - 1, "last byte of a hole")
    }
    for _ in 0..<24 {
      let window = geometry.windows[Int(pick(UInt64(geometry.windows.count)))]
      probe(window.first &+ pick(window.last &- window.first), "random address")
    }
    for window in geometry.windows where window.last != ~0 {
      probe(window.last &+ 1, "first address above a window")
    }
    for window in geometry.windows where window.first != 0 {
      probe(window.first &- 8, "last address below a window")
    }
    if identity {
      for region in machine.identityRegions {
        probe(region.virtualAddress, "identity map")
      }
    }
  }

  /// Engine mode: probe a mapping (its translation is now in the TLB), unmap it
  /// with the guest's real TLB invalidation, and probe it again: it must fault.
  func makeUnmapChecks() throws(PageTableError) {
    let candidates = mappings.filter { table.translate($0.virtualAddress) != nil }
    for mapping in candidates.prefix(8) {
      probe(mapping.virtualAddress, "before unmap")
      try unmap(mapping.virtualAddress, mapping.size)
      probeSteps.append(
        GuestPlan.Step(operation: .unmap, operands: (mapping.virtualAddress, mapping.size, 0, 0)))
      probe(mapping.virtualAddress, "after unmap and TLB invalidation")
      probe(mapping.virtualAddress + mapping.size - 1, "last byte after unmap and TLB invalidation")
      counts.unmapChecks += 1
    }
  }

  /// Engine mode: map pages, probe them, unmap them *without* invalidating the TLB
  /// and probe again (a stale translation shows the check above can fail), then
  /// invalidate everything and probe once more: they must fault.
  func makeControlExperiment() throws(PageTableError) {
    let granule = geometry.granule
    var pages: [UInt64] = []
    for _ in 0..<8 {
      guard let va = freeVirtualRange(size: granule, alignment: granule),
        let pa = physicalAddress(size: granule, alignment: granule),
        machine.targetPool.contains(pa)
      else { continue }
      try table.map(
        virtualAddress: va, physicalAddress: pa, size: granule, protection: .readWrite)
      used.append(va..<va + granule)
      probeSteps.append(
        GuestPlan.Step(
          operation: .map, operands: (va, pa, granule, GuestPlan.bits(.readWrite))))
      probe(va, "control page, mapped")
      try unmap(va, granule)
      probeSteps.append(
        GuestPlan.Step(operation: .unmapWithoutInvalidation, operands: (va, granule, 0, 0)))
      probe(
        va, "control page, unmapped without TLB invalidation", role: .controlWithoutInvalidation)
      pages.append(va)
      counts.controlPages += 1
    }
    probeSteps.append(GuestPlan.Step(operation: .invalidateAll, operands: (0, 0, 0, 0)))
    for va in pages { probe(va, "control page after invalidating the TLB") }
  }

  /// Orders the steps: setup (engine), tags, activation, probes.
  func assemble() {
    plan.steps = setupSteps
    for (address, value) in tags.sorted(by: { $0.key < $1.key }) {
      plan.add(.tag, address, value)
    }
    plan.add(.activate)
    plan.steps += probeSteps
    if mode == .engine {
      plan.tableBase = machine.engineTableBase
      plan.tableBytes = machine.engineTableBytes
    } else {
      plan.root = table.rootAddress()
    }
  }
}

/// A leaf found by a walk.
struct Leaf {
  var va: UInt64
  var size: UInt64
  var contiguous: Bool
}

/// Collects the leaves of a table.
struct LeafCollector: PageTableVisitor {
  let isContiguous: (UInt64, Int) -> Bool
  var leaves: [Leaf] = []
  mutating func visitLeaf(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int,
    protection: Protection, entry: UInt64
  ) {
    leaves.append(
      Leaf(va: virtualAddress, size: size, contiguous: isContiguous(entry, level)))
  }
}

/// The host has no TLB: unmaps on the host's copy of the tables invalidate nothing.
struct HostTLB: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}
