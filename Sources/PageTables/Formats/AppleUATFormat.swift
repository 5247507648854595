/// The page-table format of Apple's AGX GPU MMU ("UAT"): the tables the GPU and
/// its firmware coprocessor walk on Apple silicon (M1 and later).
///
/// ```swift
/// let format = try AppleUATFormat(addressSpace: .user, outputBits: 40)   // M1 (t8103)
/// let table = try PageTable(format: format,
///                           memory: ImageTableMemory(base: 0x8_0000_0000, byteCount: 1 << 20))
/// let buffer = Protection(write: true, user: true, memoryType: .uncached)  // PROT_GPU_SHARED_RW
/// try table.map(virtualAddress: 0x15_0000_0000, physicalAddress: 0x8_1234_4000,
///               size: 0x4000, protection: buffer)
/// let slot = try AppleUATFormat.contextTableEntry(rootAddress: table.rootAddress(), asid: 5)
/// ```
///
/// Bits from the Asahi Linux GPU driver (AsahiLinux/linux):
/// `drivers/gpu/drm/asahi/pgtable.rs` for the entries and the `Prot` constants,
/// `drivers/gpu/drm/asahi/mmu.rs` for the address ranges, the context table
/// (TTBAT) and the TLB rules. The layout is ARM64-like with 16 KiB pages:
/// - 3 levels of 2048-entry tables: the top level is indexed by VA[38:36] (only
///   its first 8 entries are reachable with `UAT_IAS = 39`), the middle by
///   VA[35:25], the leaf level by VA[24:14]. There are no block mappings.
/// - Entry: type [1:0] (`0b11` = a table above the leaf level, a page at it;
///   anything else is empty), memory attribute index [4:2], AP [7:6], AF [10],
///   nG [11], output address [51:14] (masked with the output size), PXN [53],
///   UXN [54], "GPU access" [55]. A table entry is `table | 0b11`.
/// - Leaves always carry AF and "GPU access"; AP, UXN and PXN together encode
///   who (firmware, GPU) may read and write (see ``Access`` and
///   ``leafTemplate(for:level:)`` for the mapping from ``Protection``).
///
/// Address spaces (``AddressSpace``): a user context translates 16 KiB ..< 2^39
/// (`IOVA_USER_RANGE`) with nG set on every leaf; the kernel context is the
/// upper (TTBR1-like) table, of which the driver manages
/// 0xffffffa0_00000000 ..< 0xffffffb0_00000000 (`IOVA_KERN_RANGE`), with global
/// leaves. Both tables are indexed with VA[38:0] (`iova & UAT_IASMSK`), so the
/// kernel range is top-level entry 2 of the kernel table.
///
/// TLB rules (`mmu.rs`), for the invalidator the table is used with: nothing is
/// needed after a map; after an unmap, a full barrier and then an invalidation
/// by ASID and VA range (`tlbi_range`); when a context slot is (re)bound to a
/// table, the whole ASID is invalidated (`tlbi_asid`) before the GPU uses it.
public struct AppleUATFormat: PageTableFormat {
  /// Which of the GPU's two translation tables this format describes.
  public enum AddressSpace: Hashable, Sendable, CaseIterable {
    /// A per-context (user or driver-private lower-half) table: 16 KiB ..< 2^39,
    /// leaves not global (nG set).
    case user
    /// The shared upper-half table (TTBR1-like), translating the driver-managed
    /// range 0xffffffa0_00000000 ..< 0xffffffb0_00000000, leaves global.
    case kernel

    /// The virtual addresses this table translates, inclusive.
    public var window: VirtualWindow {
      switch self {
      case .user:
        VirtualWindow(first: AppleUATFormat.pageSize, last: (1 << 39) - 1)
      case .kernel:
        VirtualWindow(first: 0xffff_ffa0_0000_0000, last: 0xffff_ffaf_ffff_ffff)
      }
    }
  }

  /// The UAT page size: 16 KiB (`UAT_PGBIT = 14`).
  public static var pageSize: UInt64 { 1 << 14 }
  /// Input address bits every UAT table indexes (`UAT_IAS`).
  public static var inputBits: Int { 39 }
  /// Context slots in the TTBAT (`UAT_NUM_CTX`); slot 0 is the kernel's.
  public static var contextCount: Int { 64 }

  /// The address space this table translates.
  public let addressSpace: AddressSpace
  /// Physical (output) address bits, the driver's `uat_oas`: 40 on M1 (t8103), 42 on
  /// M1 Pro/Max/Ultra and M2 Pro/Max/Ultra (t600x, t602x).
  public let outputBits: Int
  /// Three levels of 16 KiB tables over this address space's window.
  public let geometry: Geometry
  /// Bits of an entry that hold the table or page address.
  let addressMask: UInt64

  /// Makes a UAT format for `addressSpace` with `outputBits` physical bits.
  /// - Throws: ``PageTableError/invalidConfiguration(_:)`` unless `outputBits` is
  ///   in 36...52 (the address field ends at bit 51).
  public init(addressSpace: AddressSpace = .user, outputBits: Int = 40) throws(PageTableError) {
    guard (36...52).contains(outputBits) else {
      throw .invalidConfiguration("AppleUAT: output bits must be 36...52, not \(outputBits)")
    }
    self.addressSpace = addressSpace
    self.outputBits = outputBits
    self.addressMask = ((1 << UInt64(outputBits)) - 1) & ~(Self.pageSize - 1)
    self.geometry = Geometry(
      levels: [
        LevelGeometry(shift: 36, indexBits: 3, allowsLeaf: false),
        LevelGeometry(shift: 25, indexBits: 11, allowsLeaf: false),
        LevelGeometry(shift: 14, indexBits: 11, allowsLeaf: true),
      ],
      windows: [addressSpace.window], outputBits: outputBits,
      minimumRootBytes: Int(Self.pageSize))
  }

  /// The TTBAT slot value that binds a context to the table at `rootAddress`:
  /// `rootAddress | 1 (valid) | asid << 48` (`mmu.rs`, `TTBR_VALID`,
  /// `TTBR_ASID_SHIFT`). Bind a slot only after invalidating its ASID's TLB entries.
  /// - Throws: ``PageTableError/misalignedPhysicalAddress(_:)`` if `rootAddress` is
  ///   not 16 KiB aligned, ``PageTableError/physicalAddressOutOfRange(_:)`` if it
  ///   reaches bit 48, ``PageTableError/invalidConfiguration(_:)`` if `asid` is not
  ///   a slot (0..<64).
  public static func contextTableEntry(rootAddress: UInt64, asid: Int) throws(PageTableError)
    -> UInt64
  {
    guard rootAddress & (pageSize - 1) == 0 else { throw .misalignedPhysicalAddress(rootAddress) }
    guard rootAddress >> 48 == 0 else { throw .physicalAddressOutOfRange(rootAddress) }
    guard (0..<contextCount).contains(asid) else {
      throw .invalidConfiguration("AppleUAT: ASID \(asid) is not a context slot (0..<64)")
    }
    return rootAddress | 1 | UInt64(asid) << 48
  }

  // MARK: Entries

  /// Type bits [1:0] of a valid table or page entry.
  static var validType: UInt64 { 0b11 }

  public func kind(of entry: UInt64, level: Int) -> EntryKind {
    guard entry & 0b11 == Self.validType else { return .empty }
    return level == 2 ? .leaf : .table
  }

  public func tableEntry(pointingTo physicalAddress: UInt64, level: Int) -> UInt64 {
    physicalAddress | Self.validType
  }

  public func tableAddress(of entry: UInt64, level: Int) -> UInt64 { entry & addressMask }

  public func leafEntry(template: UInt64, physicalAddress: UInt64, level: Int) -> UInt64 {
    template | physicalAddress
  }

  public func outputAddress(of entry: UInt64, level: Int, virtualAddress: UInt64) -> UInt64 {
    (entry & addressMask) | (virtualAddress & (Self.pageSize - 1))
  }
}
