import PageTables
import Testing

/// The driver's `Prot` constants (`drivers/gpu/drm/asahi/pgtable.rs`) as protections.
enum UATProt {
  /// `PROT_GPU_SHARED_RW`: GPU only, uncached, read-write.
  static let gpuSharedRW = Protection(write: true, user: true, memoryType: .uncached)
  /// `PROT_GPU_SHARED_RO`.
  static let gpuSharedRO = Protection(user: true, memoryType: .uncached)
  /// `PROT_GPU_SHARED_WO`.
  static let gpuSharedWO = Protection(read: false, write: true, user: true, memoryType: .uncached)
  /// `PROT_FW_PRIV_RW`: firmware only, cached.
  static let firmwarePrivateRW = Protection.readWrite
  /// `PROT_GPU_FW_SHARED_RW`: firmware and GPU, uncached.
  static let gpuFirmwareSharedRW = Protection(
    write: true, execute: true, user: true, memoryType: .uncached)
  /// `PROT_FW_MMIO_RW`: firmware only, device memory.
  static let firmwareMMIORW = Protection(write: true, memoryType: .device)

  /// The same protection for the kernel table (global leaves).
  static func kernel(_ protection: Protection) -> Protection {
    var p = protection
    p.global = true
    return p
  }
}

extension FormatCases {
  /// AppleUAT configurations for the table-driven suite.
  static var appleUAT: [FormatCase] {
    let user = [
      UATProt.gpuSharedRW, UATProt.gpuSharedRO, UATProt.firmwarePrivateRW,
      UATProt.gpuFirmwareSharedRW, UATProt.gpuSharedWO,
      // The firmware MAIR's attribute 5.
      Protection(write: true, user: true, memoryType: .device, attributeIndex: 5),
    ]
    return [
      FormatCase("AppleUAT user oas40", protections: user) {
        try AppleUATFormat(addressSpace: .user, outputBits: 40)
      },
      FormatCase("AppleUAT kernel oas42", protections: user.map(UATProt.kernel)) {
        try AppleUATFormat(addressSpace: .kernel, outputBits: 42)
      },
    ]
  }
}

@Suite struct AppleUATTests {
  /// Reads entry `index` of the table at `table`.
  func entry(_ memory: ImageTableMemory, _ table: UInt64, _ index: Int) throws -> UInt64 {
    try #require(memory.readWord(at: table + UInt64(index) * 8))
  }

  @Test func userLeafHasTheDriversBitsForGPUSharedReadWrite() throws {
    let table = try makeTable(try AppleUATFormat(addressSpace: .user, outputBits: 40))
    let va: UInt64 = 0x15_0000_4000
    try table.map(
      virtualAddress: va, physicalAddress: 0x8_1234_4000, size: 0x4000,
      protection: UATProt.gpuSharedRW)
    // PROT_GPU_RW = from_bits(AP_GPU = 2, uxn 1, pxn 0), memattr UNCACHED = 2:
    //   high bits (GPU_ACCESS | UXN) = 0b110 << 53 = 0x00C0_0000_0000_0000
    //   AP 2 << 6 = 0x80, memattr 2 << 2 = 0x8, AF 0x400,
    //   pte_bits for an owned (user) table: type 0b11 | nG 0x800
    //   | phys 0x8_1234_4000
    let leaf = try #require(table.translate(va)).entry
    #expect(leaf == 0x00C0_0008_1234_4C8B)
    #expect(table.translate(va + 0x123)?.physicalAddress == 0x8_1234_4123)
    // The walk: top index VA[38:36] = 1, middle VA[35:25] = 0x280, leaf VA[24:14] = 1.
    let top = try entry(table.memory, table.rootAddress(), 1)
    #expect(top & 0x3 == 0x3 && top & ~UInt64(0x3fff) == top & ~UInt64(0x3))
    let middle = try entry(table.memory, top & ~UInt64(0x3), 0x280)
    #expect(middle & 0x3 == 0x3)
    #expect(try entry(table.memory, middle & ~UInt64(0x3), 1) == leaf)
    for index in [0, 2, 7] { #expect(try entry(table.memory, table.rootAddress(), index) == 0) }
    try unmapAndFlush(table, va, 0x4000)
  }

  @Test func kernelLeafIsGlobalAndLandsInTopEntryTwo() throws {
    let table = try makeTable(try AppleUATFormat(addressSpace: .kernel, outputBits: 42))
    let va: UInt64 = 0xffff_ffa0_0000_4000
    // PROT_FW_SHARED_RW = PROT_FW_RW (AP_FW = 1, uxn 1, pxn 0) with memattr UNCACHED:
    //   0x00C0_0000_0000_0000 | AP 1 << 6 = 0x40 | 0x8 | AF 0x400 | type 0b11 (no nG)
    //   | phys 0x3ff_0000_c000 (a 42-bit address)
    try table.map(
      virtualAddress: va, physicalAddress: 0x3ff_0000_c000, size: 0x4000,
      protection: Protection(write: true, global: true, memoryType: .uncached))
    let found = try #require(table.translate(va + 8))
    #expect(found.entry == 0x00C0_03FF_0000_C44B)
    #expect(found.physicalAddress == 0x3ff_0000_c008)
    #expect(found.protection == Protection(write: true, global: true, memoryType: .uncached))
    // iova & UAT_IASMSK = 0x20_0000_4000: top index 2, middle 0, leaf 1.
    for index in 0..<8 {
      let top = try entry(table.memory, table.rootAddress(), index)
      #expect((top != 0) == (index == 2), "top entry \(index)")
    }
    #expect(table.dump().map(\.virtualAddress) == [va])
    try unmapAndFlush(table, va, 0x4000)
  }

  @Test func kernelTableTranslatesOnlyTheDriverManagedRange() throws {
    let table = try makeTable(try AppleUATFormat(addressSpace: .kernel))
    let kernel = UATProt.kernel(UATProt.firmwarePrivateRW)
    for va: UInt64 in [0xffff_ffa0_0000_0000, 0xffff_ffaf_ffff_c000] {
      try table.map(
        virtualAddress: va, physicalAddress: 0x8000_0000, size: 0x4000, protection: kernel)
      #expect(table.translate(va)?.physicalAddress == 0x8000_0000)
      try unmapAndFlush(table, va, 0x4000)
    }
    // The same index bits through a user-range or another upper-half address are refused.
    for va: UInt64 in [0x20_0000_0000, 0x4000, 0xffff_ff80_0000_0000, 0xffff_ffb0_0000_0000] {
      #expect(throws: PageTableError.virtualAddressOutOfRange(va)) {
        try table.map(virtualAddress: va, physicalAddress: 0, size: 0x4000, protection: kernel)
      }
      #expect(table.translate(va) == nil)
    }
    #expect(table.memory.liveTables == 1)
  }

  @Test func userTableRefusesTheFirstPageAndKernelAddresses() throws {
    let table = try makeTable(try AppleUATFormat())
    for (va, size): (UInt64, UInt64) in [(0, 0x4000), (0, 0x8000), (0xffff_ffa0_0000_0000, 0x4000)]
    {
      #expect(throws: PageTableError.virtualAddressOutOfRange(va)) {
        try table.map(
          virtualAddress: va, physicalAddress: 0, size: size, protection: UATProt.gpuSharedRW)
      }
    }
    #expect(table.translate(0) == nil && table.translate(0x3fff) == nil)
    try table.map(
      virtualAddress: 0x4000, physicalAddress: 0, size: 0x4000, protection: UATProt.gpuSharedRW)
    #expect(table.translate(0x4000)?.physicalAddress == 0)
    try unmapAndFlush(table, 0x4000, 0x4000)
  }

  @Test func outputSizeLimitsPhysicalAddresses() throws {
    let m1 = try makeTable(try AppleUATFormat(outputBits: 40))
    #expect(throws: PageTableError.physicalAddressOutOfRange(1 << 40)) {
      try m1.map(
        virtualAddress: 0x4000, physicalAddress: 1 << 40, size: 0x4000,
        protection: UATProt.gpuSharedRW)
    }
    let pro = try makeTable(try AppleUATFormat(outputBits: 42))
    try pro.map(
      virtualAddress: 0x4000, physicalAddress: 1 << 40, size: 0x4000,
      protection: UATProt.gpuSharedRW)
    #expect(pro.translate(0x4000)?.physicalAddress == 1 << 40)
    try unmapAndFlush(pro, 0x4000, 0x4000)
    for bits in [35, 53] {
      #expect(throws: PageTableError.self) { try AppleUATFormat(outputBits: bits) }
    }
  }

  /// AP, UXN, PXN of a template.
  func permissionBits(_ entry: UInt64) -> (ap: UInt64, uxn: Bool, pxn: Bool) {
    ((entry >> 6) & 3, entry & (1 << 54) != 0, entry & (1 << 53) != 0)
  }

  @Test(arguments: AppleUATFormat.AddressSpace.allCases)
  func everyProtectionEncodesAsTheDriverDoesOrIsRefused(_ space: AppleUATFormat.AddressSpace)
    throws
  {
    let format = try AppleUATFormat(addressSpace: space)
    let global = space == .kernel
    // (read, write, execute, user) → (AP, UXN, PXN), from pgtable.rs's Prot constants.
    let expected: [[Bool]: (UInt64, Bool, Bool)] = [
      [true, false, false, false]: (1, false, false),  // PROT_FW_RO
      [true, true, false, false]: (1, true, false),  // PROT_FW_RW
      [true, false, false, true]: (2, false, false),  // PROT_GPU_RO
      [false, true, false, true]: (2, false, true),  // PROT_GPU_WO
      [true, true, false, true]: (2, true, false),  // PROT_GPU_RW
      [true, false, true, true]: (0, false, true),  // _PROT_FW_GPU_RO
      [false, true, true, true]: (0, true, false),  // _PROT_FW_GPU_WO
      [true, true, true, true]: (0, true, true),  // PROT_FW_GPU_RW
    ]
    var encoded = 0
    for bits in 0..<16 {
      let key = (0..<4).map { bits & (1 << $0) != 0 }
      for memoryType in MemoryType.allCases {
        for isGlobal in [false, true] {
          let p = Protection(
            read: key[0], write: key[1], execute: key[2], user: key[3], global: isGlobal,
            memoryType: memoryType)
          guard let want = expected[key], isGlobal == global else {
            #expect(throws: PageTableError.unsupportedProtection(p)) {
              try format.leafTemplate(for: p, level: 2)
            }
            continue
          }
          let template = try format.leafTemplate(for: p, level: 2)
          let got = permissionBits(template)
          #expect(got.ap == want.0 && got.uxn == want.1 && got.pxn == want.2, "\(p)")
          let attribute: UInt64 = [.normal: 0, .device: 1, .uncached: 2][memoryType]!
          #expect((template >> 2) & 7 == attribute)
          #expect(template & 0x3 == 0x3, "valid page")
          #expect(template & (1 << 10) != 0, "AF")
          #expect(template & (1 << 55) != 0, "GPU access")
          #expect((template & (1 << 11) != 0) == (space == .user), "nG in user tables only")
          let leaf = format.leafEntry(template: template, physicalAddress: 0x8_0000_4000, level: 2)
          #expect(format.protection(of: leaf, level: 2) == p)
          #expect(format.outputAddress(of: leaf, level: 2, virtualAddress: 0x123) == 0x8_0000_4123)
          encoded += 1
        }
      }
    }
    #expect(encoded == expected.count * MemoryType.allCases.count)
  }

  @Test func accessDecodesEveryDriverPermissionConstant() throws {
    typealias A = AppleUATFormat.Access
    // (AP, UXN, PXN) → firmware R/W, GPU R/W, per the table in pgtable.rs.
    let table: [(UInt64, UInt64, UInt64, A)] = [
      (0, 0, 0, A(firmwareRead: false, firmwareWrite: false, gpuRead: false, gpuWrite: false)),
      (0, 0, 1, A(firmwareRead: true, firmwareWrite: false, gpuRead: true, gpuWrite: false)),
      (0, 1, 0, A(firmwareRead: false, firmwareWrite: true, gpuRead: false, gpuWrite: true)),
      (0, 1, 1, A(firmwareRead: true, firmwareWrite: true, gpuRead: true, gpuWrite: true)),
      (1, 0, 0, A(firmwareRead: true, firmwareWrite: false, gpuRead: false, gpuWrite: false)),
      (1, 0, 1, A(firmwareRead: false, firmwareWrite: false, gpuRead: false, gpuWrite: false)),
      (1, 1, 0, A(firmwareRead: true, firmwareWrite: true, gpuRead: false, gpuWrite: false)),
      (1, 1, 1, A(firmwareRead: true, firmwareWrite: true, gpuRead: true, gpuWrite: false)),
      (2, 0, 0, A(firmwareRead: false, firmwareWrite: false, gpuRead: true, gpuWrite: false)),
      (2, 0, 1, A(firmwareRead: false, firmwareWrite: false, gpuRead: false, gpuWrite: true)),
      (2, 1, 0, A(firmwareRead: false, firmwareWrite: false, gpuRead: true, gpuWrite: true)),
      (2, 1, 1, A(firmwareRead: false, firmwareWrite: false, gpuRead: false, gpuWrite: false)),
    ]
    for (ap, uxn, pxn, want) in table {
      let entry: UInt64 = 1 << 55 | uxn << 54 | pxn << 53 | 1 << 10 | ap << 6 | 0b11
      #expect(A(entry: entry) == want, "AP \(ap) UXN \(uxn) PXN \(pxn)")
    }
    // PROT_FW_RW_GPU_RO (here with nG) has no Protection of its own: it reads as both, read-only.
    let mixed: UInt64 = 1 << 55 | 1 << 54 | 1 << 53 | 1 << 11 | 1 << 10 | 1 << 6 | 0b11
    #expect(
      try AppleUATFormat().protection(of: mixed, level: 2)
        == Protection(execute: true, user: true))
  }

  @Test func contextTableSlotIsRootValidAndASID() throws {
    #expect(
      try AppleUATFormat.contextTableEntry(rootAddress: 0x8_1234_4000, asid: 5)
        == 0x0005_0008_1234_4001)
    #expect(
      try AppleUATFormat.contextTableEntry(rootAddress: 0x8_0000_0000, asid: 0) == 0x8_0000_0001)
    #expect(throws: PageTableError.misalignedPhysicalAddress(0x8_0000_1000)) {
      try AppleUATFormat.contextTableEntry(rootAddress: 0x8_0000_1000, asid: 1)
    }
    #expect(throws: PageTableError.self) {
      try AppleUATFormat.contextTableEntry(rootAddress: 0x8_0000_0000, asid: 64)
    }
    #expect(throws: PageTableError.self) {
      try AppleUATFormat.contextTableEntry(rootAddress: 1 << 48, asid: 1)
    }
  }

  @Test func geometryIsThreeLevelsOfSixteenKiBPagesWithoutBlocks() throws {
    let geometry = try AppleUATFormat().geometry
    #expect(geometry.levels.map(\.shift) == [36, 25, 14])
    #expect(geometry.levels.map(\.indexBits) == [3, 11, 11])
    #expect(geometry.leafSizes == [0x4000])
    let table = try makeTable(try AppleUATFormat())
    // 32 MiB + 16 KiB crossing a middle-level boundary: pages only.
    let va: UInt64 = 0x1_FE00_0000 - 0x4000
    try table.map(
      virtualAddress: va, physicalAddress: 0x100_0000, size: 0x200_4000,
      protection: UATProt.gpuSharedRW)
    #expect(table.translate(va)?.pageSize == 0x4000)
    #expect(table.translate(va + 0x200_0000)?.physicalAddress == 0x300_0000)
    #expect(try unmapAndFlush(table, va, 0x200_4000) == 0x200_4000)
    #expect(table.memory.liveTables == 1)
  }

  @Test func rootIsAWholeSixteenKiBPageSoAContextCanBindIt() throws {
    for space in [AppleUATFormat.AddressSpace.user, .kernel] {
      let table = try PageTable(
        format: AppleUATFormat(addressSpace: space),
        memory: ImageTableMemory(base: 0x8_0000_0000, byteCount: 1 << 20))
      #expect(table.rootAddress() % 16384 == 0)
      #expect(table.memory.usedBytes == 16384, "the root takes a whole 16 KiB page")
      let slot = try AppleUATFormat.contextTableEntry(rootAddress: table.rootAddress(), asid: 3)
      #expect(slot == table.rootAddress() | 1 | 3 << 48)
    }
  }
}
