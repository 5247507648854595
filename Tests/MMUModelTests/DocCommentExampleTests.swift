import MMUModel
import PageTables
import PhysicalPageTables
import PhysicalPages
import Testing

/// The ```swift examples of the doc comments of `Sources/MMUModel` (those of ``MMU``
/// itself run in `DocumentationExampleTests`, that of `TraceReplay` in
/// `TraceReplayTests.theDocCommentExampleReportsTheStaleTranslation`), line for line, with the setup each
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

    /// Attaches the table with `asid` and maps `size` bytes at 0x20_0000 to 0x8020_0000
    /// (what most examples start from).
    func attachAndMap(asid: UInt16 = 1, size: UInt64) throws -> AddressSpace {
      let space = mmu.attach(table, asid: asid)
      try table.map(
        virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: size,
        protection: .readWrite)
      return space
    }

    /// Unmaps through a gather whose commands reach the model, and detaches `space`.
    func tearDown(_ space: AddressSpace, _ virtualAddress: UInt64, _ size: UInt64) throws {
      try unmapAndFlush(table, mmu, space, virtualAddress, size)
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
    let setup = try Setup()  // let mmu = try MMU(format: format, memory: image)
    let (mmu, table) = (setup.mmu, setup.table)
    // … the driver under test maps, unmaps, invalidates, frees …
    let space = mmu.attach(table, asid: 1)
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x1000,
      protection: .readWrite)
    _ = try mmu.access(0x20_0010, .write, in: space)
    try unmapAndFlush(table, mmu, space, 0x20_0000, 0x1000)
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

  @Test func tlbInvalidation() throws {
    // Sources/MMUModel/Hardware/TLBInvalidation.swift, TLBInvalidation
    let setup = try Setup()
    let mmu = setup.mmu
    let space = try setup.attachAndMap(asid: 5, size: 0x20_0000)
    _ = try mmu.access(0x30_0000, in: space)
    #expect(try mmu.access(0x30_0000, in: space).servedByTLB)

    mmu.invalidate(
      .asidRange(
        asid: 5, start: 0x20_0000, size: 0x20_0000,
        granule: 0x1000, leafOnly: true))

    #expect(try mmu.access(0x30_0000, in: space).servedByTLB == false)
    #expect(mmu.reports.isEmpty)
    try setup.tearDown(space, 0x20_0000, 0x20_0000)
  }

  @Test func mmuTranslation() throws {
    // Sources/MMUModel/Hardware/Access.swift, MMUTranslation
    let setup = try Setup()
    let mmu = setup.mmu
    let space = try setup.attachAndMap(size: 0x2000)
    _ = try mmu.access(0x20_1234, .read, in: space)  // the first access walks

    let t = try mmu.access(0x20_1234, .read, in: space)
    #expect(t.physicalAddress == 0x8020_1234)  // 0x8020_1234
    #expect(t.servedByTLB)  // true on the second access
    try setup.tearDown(space, 0x20_0000, 0x2000)
  }

  @Test func mmuFault() throws {
    // Sources/MMUModel/Hardware/Access.swift, MMUFault
    let setup = try Setup()
    let mmu = setup.mmu
    let space = try setup.attachAndMap(size: 0x1000)

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
    try unmapAndFlush(table, mmu, space, 0x20_0000, 0x1000)
    mmu.checkQuiescent()
    #expect(mmu.reports.isEmpty)
    mmu.detach(space)
  }

  @Test func entryWritten() throws {
    // Sources/MMUModel/MMU.swift, MMU.entryWritten(table:index:)
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48))
    let (mmu, memory) = (rig.mmu, rig.image)
    try rig.table.map(
      virtualAddress: 0x20_0000, physicalAddress: dataBase, size: 0x2000, protection: .readWrite)
    _ = try mmu.access(0x20_0000, in: rig.space)  // the model reads the new tables in
    let slot = try leafSlot(rig, virtualAddress: 0x20_0000)
    let (leafTable, index, newLeaf) = (slot.table, slot.index, UInt64(0))  // clears the leaf

    memory.withTable(at: leafTable, byteCount: 4096) { $0.store(index, newLeaf) }
    try mmu.entryWritten(table: leafTable, index: index)

    // Judged at once: the removal waits for an invalidation, as quiescence shows.
    mmu.checkQuiescent()
    #expect(mmu.reports.map(\.rule) == [.staleTranslation])
    mmu.invalidate(.all)
    try rig.tearDown([(0x20_1000, 0x1000)])
  }

  @Test func mmuUsageError() throws {
    // Sources/MMUModel/MMUUsageError.swift, MMUUsageError
    let rig = try Rig(try ARM64Format(granule: .k4, inputBits: 48))
    let mmu = rig.mmu
    try rig.table.map(
      virtualAddress: 0x20_0000, physicalAddress: dataBase, size: 0x1000, protection: .readWrite)
    mmu.synchronize()  // the model reads the new tables in
    let leafTable = try leafSlot(rig, virtualAddress: 0x20_0000).table

    var text = ""
    do { try mmu.entryWritten(table: leafTable, index: 512) }  // a 512-entry table
    catch { text = "\(error)" }
    #expect(text == "entry 512 of table \(hex(leafTable)) does not exist (512 entries)")
    try rig.tearDown([(0x20_0000, 0x1000)])
  }

  @Test func observeFrees() throws {
    // Sources/MMUModel/MMU+PhysicalPages.swift, MMU.observeFrees(of:)
    let format = try ARM64Format(granule: .k4, inputBits: 48)
    let ram = try PhysicalMemory()
    let mmu = try MMU(format: format, memory: PhysicalPageTableMemory(ram))
    mmu.observeFrees(of: ram)
    // … a page still mapped is freed through PhysicalPages …
    let table = try PageTable(format: format, memory: mmu.observing(mmu.memory))
    let space = mmu.attach(table, asid: 1)
    let address = try ram.allocatePage().intoPhysicalAddress()
    try table.map(
      virtualAddress: 0x20_0000, physicalAddress: address.rawValue, size: 0x1000,
      protection: .readWrite)
    let page = try unsafe Page(fromPhysicalAddress: address, in: ram)
    _ = consume page
    #expect(mmu.reports.first?.rule == .mappedPageFreed)
    mmu.stopObservingFrees(of: ram)
    try unmapAndFlush(table, mmu, space, 0x20_0000, 0x1000)
    mmu.detach(space)
  }
}

/// `0x` and lowercase hexadecimal digits (as reports print addresses).
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
