import PageTables
import PhysicalPageTables
import Testing

/// Caller arguments that used to trap and now get a typed error (RELIABILITY.md,
/// "Traps reachable from the public API").
@Suite struct PublicTrapTests {
  func image() throws -> FaultInjectingTableMemory<ImageTableMemory> {
    FaultInjectingTableMemory(try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20))
  }

  @Test func aRootIndexFromOutsideIsRefusedWithATypedError() throws {
    let dart = try PageTable(
      format: AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 32), memory: image())
    #expect(dart.rootCount == 4)
    for index in 0..<dart.rootCount {
      #expect(try dart.rootAddress(at: index) == dart.rootAddress(index))
    }
    for index in [-1, 4, Int.max, Int.min] {
      #expect(throws: PageTableError.rootIndexOutOfRange(index: index, rootCount: 4)) {
        try dart.rootAddress(at: index)
      }
    }
    #expect(
      "\(PageTableError.rootIndexOutOfRange(index: 4, rootCount: 4))"
        == "root table 4 does not exist (the table has 4 root table(s))")
  }

  static let page = LevelGeometry(shift: 12, indexBits: 9, allowsLeaf: true)
  static let middle = LevelGeometry(shift: 21, indexBits: 9, allowsLeaf: true)
  static let top = LevelGeometry(shift: 30, indexBits: 9, allowsLeaf: false)
  static let window = [VirtualWindow(first: 0, last: (1 << 39) - 1)]

  /// Geometries a custom format might describe that the engine cannot walk, each
  /// with the rule its error names.
  static let badGeometries: [(Geometry, String)] = [
    (Geometry(levels: [], windows: window, outputBits: 48), "1 to 6 levels"),
    (
      Geometry(levels: Array(repeating: page, count: 7), windows: window, outputBits: 48),
      "1 to 6 levels"
    ),
    (
      Geometry(
        levels: [top, middle, LevelGeometry(shift: 12, indexBits: 9, allowsLeaf: false)],
        windows: window, outputBits: 48), "the last level maps pages"
    ),
    (
      Geometry(
        levels: [top, LevelGeometry(shift: 22, indexBits: 8, allowsLeaf: true), page],
        windows: window, outputBits: 48), "must index exactly the bits below"
    ),
    (
      Geometry(
        levels: [LevelGeometry(shift: 21, indexBits: 0, allowsLeaf: true), page],
        windows: window, outputBits: 48), "indexes 1 to 24 bits"
    ),
    (
      Geometry(
        levels: [LevelGeometry(shift: 12, indexBits: 60, allowsLeaf: true)],
        windows: window, outputBits: 48), "indexes 1 to 24 bits"
    ),
    (
      Geometry(
        levels: [
          top, middle, LevelGeometry(shift: 12, indexBits: 9, allowsLeaf: true, contiguousRun: 3),
        ],
        windows: window, outputBits: 48), "contiguous run"
    ),
    (
      Geometry(
        levels: [
          top, LevelGeometry(shift: 21, indexBits: 9, allowsLeaf: true),
          LevelGeometry(shift: 12, indexBits: 9, allowsLeaf: true, contiguousRun: 256),
        ], windows: window, outputBits: 48), "contiguous run"
    ),
    (
      Geometry(
        levels: [
          LevelGeometry(shift: 30, indexBits: 9, allowsLeaf: true),
          LevelGeometry(shift: 21, indexBits: 9, allowsLeaf: false), page,
        ], windows: window, outputBits: 48), "as the level above does"
    ),
    (
      Geometry(levels: [top, middle, page], windows: window, rootSelectBits: 3, outputBits: 48),
      "at most 4 roots"
    ),
    (Geometry(levels: [top, middle, page], windows: [], outputBits: 48), "one or two windows"),
    (
      Geometry(
        levels: [top, middle, page], windows: [VirtualWindow(first: 1 << 20, last: 0)],
        outputBits: 48), "one or two windows"
    ),
    (Geometry(levels: [top, middle, page], windows: window, outputBits: 0), "output bits"),
    (
      Geometry(levels: [top, middle, page], windows: window, outputBits: 48, minimumRootBytes: 3),
      "minimumRootBytes"
    ),
  ]

  @Test(arguments: badGeometries.indices)
  func aGeometryTheEngineCannotWalkIsRefusedAtCreation(_ index: Int) throws {
    let (geometry, rule) = Self.badGeometries[index]
    let memory = try image()
    do {
      _ = try PageTable(format: ToyFormat(customGeometry: geometry), memory: memory)
      Issue.record("accepted a geometry breaking '\(rule)'")
    } catch {
      guard case .invalidConfiguration(let why) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(why.contains(rule), "\(why)")
    }
    #expect(memory.liveTables == 0, "nothing is allocated for a refused geometry")
  }

  @Test func theToyGeometryItselfIsAccepted() throws {
    let good = Geometry(levels: [top, middle, page], windows: Self.window, outputBits: 48)
    _ = try PageTable(format: ToyFormat(customGeometry: good), memory: image())
  }

  var top: LevelGeometry { Self.top }
  var middle: LevelGeometry { Self.middle }
  var page: LevelGeometry { Self.page }

  /// Sizes that are no table get nothing from an image (as when it is full), where
  /// the alignment arithmetic used to overflow and trap.
  @Test(arguments: [0, -8, 3, 96, 1 << 21, Int.max, Int.min])
  func anImageRefusesATableSizeThatIsNoTable(_ byteCount: Int) throws {
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    #expect(image.allocateTable(byteCount: byteCount) == nil)
    #expect(image.allocateTableForOverwrite(byteCount: byteCount) == nil)
    #expect(image.liveTables == 0)
    #expect(image.allocateTable(byteCount: 4096) == 0x4000_0000)
  }
}

/// The image's checked table access: an address from outside is refused, not trapped on.
@Suite struct ImageCheckedAccessTests {
  @Test func onlyTablesTheImageHoldsAreReachedOrFreed() throws {
    let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
    let table = try #require(image.allocateTable(byteCount: 4096))
    let small = try #require(image.allocateTable(byteCount: 64))
    #expect(try image.withTable(checkedAt: table, byteCount: 4096) { $0.count } == 512)
    #expect(try image.withTable(checkedAt: small, byteCount: 64) { $0.count } == 8)
    for (address, size) in [
      (0x3FFF_F000 as UInt64, 4096), (0x4010_0000, 4096), (table + 8, 4096), (table, 3),
      (table, 0), (table, -4096), (table, Int.max), (UInt64.max, 4096), (0x4008_0000, 4096),
    ] {
      #expect(throws: ImageTableMemoryError.notATable(physicalAddress: address, byteCount: size)) {
        try image.withTable(checkedAt: address, byteCount: size) { _ in () }
      }
      #expect(throws: ImageTableMemoryError.notATable(physicalAddress: address, byteCount: size)) {
        try image.freeTable(checkedAt: address, byteCount: size)
      }
    }
    #expect(image.liveTables == 2)
    try image.freeTable(checkedAt: table, byteCount: 4096)
    #expect(image.liveTables == 1)
    // A second free of the same table is refused: the image never hands it out twice.
    #expect(throws: ImageTableMemoryError.notATable(physicalAddress: table, byteCount: 4096)) {
      try image.freeTable(checkedAt: table, byteCount: 4096)
    }
    #expect(image.liveTables == 1)
    #expect(image.allocateTable(byteCount: 4096) == table)
    #expect(
      "\(ImageTableMemoryError.notATable(physicalAddress: 0x4000_0008, byteCount: 4096))"
        == "4096 bytes at 0x40000008 are not a table this image handed out and holds")
  }
}
