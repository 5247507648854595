import MMUModel
import PageTables
import Testing

/// The ```swift examples of the doc comments of `Sources/MMUModel` (those of ``MMU``
/// itself run in `DocumentationExampleTests`), line for line, with the setup each
/// presupposes and its comments turned into expectations.
@Suite struct DocCommentExampleTests {
  /// An image, a model and an ARM64 table on the image, observed by the model.
  struct Setup {
    let image: ImageTableMemory
    let format: ARM64Format
    let mmu: MMU<ARM64Format, ImageTableMemory>
    let table: PageTable<ARM64Format, ObservedTableMemory<ImageTableMemory>>

    init() throws {
      image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
      format = try ARM64Format(granule: .k4, inputBits: 48)
      mmu = try MMU(format: format, memory: image)
      table = try PageTable(format: format, memory: mmu.observing(image))
    }

    /// Unmaps through a gather whose commands reach the model, and detaches `space`.
    func tearDown(_ space: AddressSpace, _ virtualAddress: UInt64, _ size: UInt64) throws {
      var gather = TLBGather(invalidator: mmu.invalidator(for: space))
      try table.unmap(virtualAddress: virtualAddress, size: size, gather: &gather)
      table.flush(&gather)
      mmu.detach(space)
    }
  }

  @Test func mmuInvalidator() throws {
    // Sources/MMUModel/MMUInvalidator.swift, MMUInvalidator
    let setup = try Setup()
    let (mmu, table) = (setup.mmu, setup.table)
    let space = mmu.attach(table, asid: 5)
    let (va, size): (UInt64, UInt64) = (0x20_0000, 0x2000)
    try table.map(
      virtualAddress: va, physicalAddress: 0x8020_0000, size: size, protection: .readWrite)
    #expect(try mmu.access(va + 0x1000, in: space).servedByTLB == false)
    #expect(try mmu.access(va + 0x1000, in: space).servedByTLB == true)

    var gather = TLBGather(invalidator: mmu.invalidator(for: space))
    try table.unmap(virtualAddress: va, size: size, gather: &gather)
    table.flush(&gather)  // → .asidRange(asid:start:size:granule:leafOnly:)

    // The range command reached the model: the cached translation is gone, nothing stale.
    #expect(throws: MMUFault.self) { try mmu.access(va + 0x1000, in: space) }
    #expect(mmu.reports.isEmpty)
    mmu.detach(space)
  }

  @Test func mmuReportWithACorrectDriver() throws {
    // Sources/MMUModel/Checker/MMUReport.swift, MMUReport (first example)
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let mmu = try MMU(format: format, memory: image)
    // … the driver under test maps, unmaps, invalidates, frees …
    let table = try PageTable(format: format, memory: mmu.observing(image))
    let space = mmu.attach(table, asid: 1)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x1000,
      protection: .readWrite)
    _ = try mmu.access(0x20_0010, .write, in: space)
    var gather = TLBGather(invalidator: mmu.invalidator(for: space))
    try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
    table.flush(&gather)
    mmu.pageFreed(physicalAddress: 0x8020_0000, byteCount: 0x1000)
    #expect(mmu.reports.isEmpty)  // a correct driver
    mmu.detach(space)
  }

  @Test func mmuReportWithABreakBeforeMakeViolation() throws {
    // Sources/MMUModel/Checker/MMUReport.swift, MMUReport (second example)
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let rig = try Rig(format)
    let mmu = rig.mmu
    try rig.table.map(
      virtualAddress: 0x20_0000, physicalAddress: dataBase, size: 0x1000,
      protection: .readWrite)
    _ = try mmu.access(0x20_0010, in: rig.space)
    // … the driver rewrites a live leaf's output address without breaking it first …
    let moved = format.leafEntry(
      template: try format.leafTemplate(for: .readWrite, level: 3),
      physicalAddress: dataBase + 0x10_000, level: 3)
    try overwriteLeaf(rig, virtualAddress: 0x20_0000, with: moved)
    mmu.synchronize()
    #expect(mmu.reports.first?.rule == .breakBeforeMake)
    mmu.invalidate(.all)
    try rig.tearDown([(0x20_0000, 0x1000)])
  }

  @Test func traceReplay() throws {
    // Sources/MMUModel/Replay/TraceReplay.swift, TraceReplay
    let summary = try TraceReplay.run(lines: [
      #"{"format": "arm64-4k", "asid": 1}"#,
      #"{"op": "map", "va": "0x200000", "pa": "0x80200000", "size": "0x1000", "prot": "rw"}"#,
      #"{"op": "access", "va": "0x200010", "kind": "write"}"#,
      #"{"op": "unmap", "va": "0x200000", "size": "0x1000", "invalidate": false}"#,
      #"{"op": "access", "va": "0x200010"}"#,
    ]) { print($0) }
    let rules = summary.reports.map(\.rule)  // [.tableFreedWhileReachable, …, .staleTranslation]
    #expect(rules.first == .tableFreedWhileReachable)
    #expect(rules.last == .staleTranslation)
  }

  @Test func tlbInvalidation() throws {
    // Sources/MMUModel/Hardware/TLBInvalidation.swift, TLBInvalidation
    let setup = try Setup()
    let (mmu, table) = (setup.mmu, setup.table)
    let space = mmu.attach(table, asid: 5)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x20_0000,
      protection: .readWrite)
    _ = try mmu.access(0x30_0000, in: space)
    #expect(try mmu.access(0x30_0000, in: space).servedByTLB)

    mmu.invalidate(
      .asidRange(
        asid: 5, start: 0x20_0000, size: 0x20_0000,
        granule: 0x1000, leafOnly: true))

    #expect(try mmu.access(0x30_0000, in: space).servedByTLB == false)
    #expect(mmu.reports.isEmpty)
    var gather = TLBGather(invalidator: mmu.invalidator(for: space))
    try table.unmap(virtualAddress: 0x20_0000, size: 0x20_0000, gather: &gather)
    table.flush(&gather)
    mmu.detach(space)
  }

  @Test func mmuTranslation() throws {
    // Sources/MMUModel/Hardware/Access.swift, MMUTranslation
    let setup = try Setup()
    let (mmu, table) = (setup.mmu, setup.table)
    let space = mmu.attach(table, asid: 1)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x2000,
      protection: .readWrite)
    _ = try mmu.access(0x20_1234, .read, in: space)  // the first access walks

    let t = try mmu.access(0x20_1234, .read, in: space)
    #expect(t.physicalAddress == 0x8020_1234)  // 0x8020_1234
    #expect(t.servedByTLB)  // true on the second access
    try setup.tearDown(space, 0x20_0000, 0x2000)
  }

  @Test func mmuFault() throws {
    // Sources/MMUModel/Hardware/Access.swift, MMUFault
    let setup = try Setup()
    let (mmu, table) = (setup.mmu, setup.table)
    let space = mmu.attach(table, asid: 1)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x1000,
      protection: .readWrite)

    var fault: MMUFault?
    do { _ = try mmu.access(0xdead_0000, .write, in: space) } catch {
      print(error.kind, error.level)  // translation 1
      fault = error
    }
    #expect(fault?.kind == .translation)
    #expect(fault?.level == 1)
    try setup.tearDown(space, 0x20_0000, 0x1000)
  }

  @Test func addressSpace() throws {
    // Sources/MMUModel/Hardware/AddressSpace.swift, AddressSpace
    let setup = try Setup()
    let (mmu, table) = (setup.mmu, setup.table)
    try table.map(
      virtualAddress: 0x1000, physicalAddress: 0x8000_1000, size: 0x1000,
      protection: .readWrite)

    let space = mmu.attach(table, asid: 5)  // TTBR0 with ASID 5
    _ = try mmu.access(0x1000, .read, in: space)

    #expect(space.asid == 5)
    #expect(space.vmid == 0)
    #expect(mmu.reports.isEmpty)
    try setup.tearDown(space, 0x1000, 0x1000)
  }

  @Test func mmuConfiguration() throws {
    // Sources/MMUModel/MMUConfiguration.swift, MMUConfiguration
    var configuration = MMUConfiguration()
    configuration.tlbEntries = 1024
    configuration.tlbWays = 8
    configuration.replacement = .random(seed: 7)
    configuration.checking = .strict  // trap at the first report

    // The model builds that TLB shape (it throws for one it cannot build).
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let mmu = try MMU(
      format: ARM64Format(granule: .k4, inputBits: 48), memory: image,
      configuration: configuration)
    #expect(mmu.configuration.checking == .strict)
    #expect(mmu.configuration.tlbEntries == 1024)
  }

  @Test func observedTableMemory() throws {
    // Sources/MMUModel/ObservedTableMemory.swift, ObservedTableMemory
    let format = try ARM64Format(granule: .k4, inputBits: 48)

    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let mmu = try MMU(format: format, memory: image)
    let table = try PageTable(format: format, memory: mmu.observing(image))

    // The model hears of the tables: mapping, caching and unmapping leave nothing stale.
    let space = mmu.attach(table, asid: 1)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x1000,
      protection: .readWrite)
    _ = try mmu.access(0x20_0010, in: space)
    var gather = TLBGather(invalidator: mmu.invalidator(for: space))
    try table.unmap(virtualAddress: 0x20_0000, size: 0x1000, gather: &gather)
    table.flush(&gather)
    mmu.checkQuiescent()
    #expect(mmu.reports.isEmpty)
    mmu.detach(space)
  }
}
