extension AppleUATFormat {
  /// Who may read and write through a UAT leaf: the firmware (the GPU's ARM
  /// coprocessor) and the GPU, as the Asahi driver's `Prot` constants
  /// (`pgtable.rs`) read AP [7:6], UXN [54] and PXN [53].
  ///
  /// | AP | UXN | PXN | firmware | GPU | driver constant |
  /// |----|-----|-----|----------|-----|-----------------|
  /// | 0  | 0   | 0   | –        | –   | `PROT_FW_GPU_NA` |
  /// | 0  | 0   | 1   | R        | R   | `_PROT_FW_GPU_RO` |
  /// | 0  | 1   | 0   | W        | W   | `_PROT_FW_GPU_WO` |
  /// | 0  | 1   | 1   | RW       | RW  | `PROT_FW_GPU_RW` |
  /// | 1  | 0   | 0   | R        | –   | `PROT_FW_RO` |
  /// | 1  | 0   | 1   | –        | –   | `_PROT_FW_NA` |
  /// | 1  | 1   | 0   | RW       | –   | `PROT_FW_RW` |
  /// | 1  | 1   | 1   | RW       | R   | `PROT_FW_RW_GPU_RO` |
  /// | 2  | 0   | 0   | –        | R   | `PROT_GPU_RO` |
  /// | 2  | 0   | 1   | –        | W   | `PROT_GPU_WO` |
  /// | 2  | 1   | 0   | –        | RW  | `PROT_GPU_RW` |
  /// | 2  | 1   | 1   | –        | –   | `_PROT_GPU_NA` |
  ///
  /// AP 3 is not used by the driver and reads as no access. A leaf without the
  /// "GPU access" bit 55 is firmware-only with permissions from the firmware's
  /// SPRR configuration, which the entry does not say; it reads as firmware read
  /// and write.
  public struct Access: Hashable, Sendable {
    /// The firmware may load.
    public var firmwareRead: Bool
    /// The firmware may store.
    public var firmwareWrite: Bool
    /// The GPU may load.
    public var gpuRead: Bool
    /// The GPU may store.
    public var gpuWrite: Bool

    /// Rights given one by one.
    public init(firmwareRead: Bool, firmwareWrite: Bool, gpuRead: Bool, gpuWrite: Bool) {
      self.firmwareRead = firmwareRead
      self.firmwareWrite = firmwareWrite
      self.gpuRead = gpuRead
      self.gpuWrite = gpuWrite
    }

    /// The access a leaf entry grants.
    public init(entry: UInt64) {
      guard entry & AppleUATFormat.gpuAccessBit != 0 else {
        self.init(firmwareRead: true, firmwareWrite: true, gpuRead: false, gpuWrite: false)
        return
      }
      let uxn = entry & AppleUATFormat.uxnBit != 0
      let pxn = entry & AppleUATFormat.pxnBit != 0
      switch (entry >> 6) & 0b11 {
      case 0:  // firmware and GPU alike
        let read = pxn
        let write = uxn
        self.init(firmwareRead: read, firmwareWrite: write, gpuRead: read, gpuWrite: write)
      case 1:  // firmware, plus GPU read with both bits
        self.init(
          firmwareRead: !pxn || uxn, firmwareWrite: uxn, gpuRead: uxn && pxn, gpuWrite: false)
      case 2:  // GPU only; both bits is no access
        self.init(
          firmwareRead: false, firmwareWrite: false, gpuRead: !pxn, gpuWrite: uxn != pxn)
      default:
        self.init(firmwareRead: false, firmwareWrite: false, gpuRead: false, gpuWrite: false)
      }
    }
  }

  // MARK: Bits

  /// Memory attribute index [4:2] (the driver's `UAT_MEMATTR_SHIFT`).
  static var memoryAttributeShift: UInt64 { 2 }
  /// AP [7:6] (`UAT_AP_SHIFT`).
  static var accessShift: UInt64 { 6 }
  /// Access flag (`UAT_AF`).
  static var accessFlag: UInt64 { 1 << 10 }
  /// Not global: the entry is tagged with the context's ASID (`UAT_NON_GLOBAL`).
  static var notGlobalBit: UInt64 { 1 << 11 }
  /// PXN, reinterpreted as a permission bit (`HIGH_BITS_PXN << 53`).
  static var pxnBit: UInt64 { 1 << 53 }
  /// UXN, reinterpreted as a permission bit (`HIGH_BITS_UXN << 53`).
  static var uxnBit: UInt64 { 1 << 54 }
  /// Enables GPU access and the permission rules of ``Access`` (`HIGH_BITS_GPU_ACCESS << 53`).
  static var gpuAccessBit: UInt64 { 1 << 55 }

  /// AP values (`AP_FW_GPU`, `AP_FW`, `AP_GPU`).
  static var firmwareAndGPU: UInt64 { 0 }
  static var firmwareOnly: UInt64 { 1 }
  static var gpuOnly: UInt64 { 2 }

  /// Memory attribute indices (`MEMATTR_CACHED`, `MEMATTR_DEV`, `MEMATTR_UNCACHED`).
  static func memoryAttribute(_ type: MemoryType) -> UInt64 {
    switch type {
    case .normal: 0
    case .device: 1
    case .uncached: 2
    }
  }

  // MARK: Protection

  /// The leaf bits for `protection`: type `0b11`, AF, "GPU access", nG in a user
  /// table, the memory attribute and the AP/UXN/PXN permission encoding.
  ///
  /// ``Protection/user`` is GPU access; ``Protection/execute`` on a GPU mapping
  /// means the firmware may access it too (the encoding of the driver's original
  /// io-pgtable `APPLE_UAT` format, where mappings without `IOMMU_NOEXEC` were
  /// shared with the firmware). The UAT has no instruction-fetch permission of
  /// its own: the GPU fetches shaders as data and the firmware's execute rights
  /// come from its own configuration.
  ///
  /// | Protection | AP | UXN | PXN | driver constant |
  /// |------------|----|-----|-----|-----------------|
  /// | read | 1 | 0 | 0 | `PROT_FW_RO` |
  /// | read, write | 1 | 1 | 0 | `PROT_FW_RW` |
  /// | user, read | 2 | 0 | 0 | `PROT_GPU_RO` |
  /// | user, write | 2 | 0 | 1 | `PROT_GPU_WO` |
  /// | user, read, write | 2 | 1 | 0 | `PROT_GPU_RW` |
  /// | user, execute, read | 0 | 0 | 1 | `_PROT_FW_GPU_RO` |
  /// | user, execute, write | 0 | 1 | 0 | `_PROT_FW_GPU_WO` |
  /// | user, execute, read, write | 0 | 1 | 1 | `PROT_FW_GPU_RW` |
  ///
  /// Memory types: normal is attribute 0 (cached), device 1, uncached 2 — so
  /// `PROT_GPU_SHARED_RW` is `Protection(write: true, user: true,
  /// memoryType: .uncached)` and `PROT_FW_PRIV_RW` is `.readWrite`.
  ///
  /// ``Protection/attributeIndex`` selects any of the eight attributes [4:2] of the
  /// MAIR the GPU firmware programs (the driver uses 0, 1 and 2). The entry has no
  /// bits documented as ignored (bit 55 is "GPU access", and the driver defines no
  /// software bits), and the driver always sets AF: ``Protection/softwareBits`` other
  /// than 0 and ``Protection/accessed`` false are refused.
  ///
  /// - Throws: ``PageTableError/unsupportedProtection(_:)`` for no access at all,
  ///   firmware-only write-only, `execute` without `user`, and a
  ///   ``Protection/global`` that is not this address space's (global exactly in
  ///   the kernel table: a global leaf in a per-context table would outlive the
  ///   ASID invalidation done when its slot is rebound). Firmware read-write with
  ///   GPU read-only (`PROT_FW_RW_GPU_RO`) has no ``Protection``.
  public func leafTemplate(for protection: Protection, level: Int) throws(PageTableError)
    -> UInt64
  {
    guard protection.read || protection.write,
      protection.global == (addressSpace == .kernel), protection.softwareBits == 0,
      protection.accessed, protection.attributeIndex ?? 0 < 8
    else { throw .unsupportedProtection(protection) }
    let ap: UInt64
    let uxn: Bool
    let pxn: Bool
    switch (protection.user, protection.execute) {
    case (false, false):
      guard protection.read else { throw .unsupportedProtection(protection) }
      (ap, uxn, pxn) = (Self.firmwareOnly, protection.write, false)
    case (false, true):
      throw .unsupportedProtection(protection)
    case (true, false):
      (ap, uxn, pxn) = (Self.gpuOnly, protection.read && protection.write, !protection.read)
    case (true, true):
      (ap, uxn, pxn) = (Self.firmwareAndGPU, protection.write, protection.read)
    }
    var bits = Self.validType | Self.accessFlag | Self.gpuAccessBit
    bits |= ap << Self.accessShift
    let index = protection.attributeIndex.map { UInt64($0) }
    bits |= (index ?? Self.memoryAttribute(protection.memoryType)) << Self.memoryAttributeShift
    if uxn { bits |= Self.uxnBit }
    if pxn { bits |= Self.pxnBit }
    if addressSpace == .user { bits |= Self.notGlobalBit }
    return bits
  }

  /// The protection a leaf grants: the inverse of ``leafTemplate(for:level:)``.
  ///
  /// Where the GPU has access, ``Protection/read`` and ``Protection/write`` are the
  /// GPU's, ``Protection/user`` is set and ``Protection/execute`` says whether the
  /// firmware has access too; otherwise they are the firmware's. Entries the
  /// template never writes read as the nearest protection (see ``Access`` for the
  /// exact rights): `PROT_FW_RW_GPU_RO` reads as firmware-and-GPU read-only.
  /// Memory attributes other than 0, 1 and 2 read as device memory with that
  /// ``Protection/attributeIndex``.
  public func protection(of entry: UInt64, level: Int) -> Protection {
    let access = Access(entry: entry)
    let index = (entry >> Self.memoryAttributeShift) & 0b111
    let memoryType: MemoryType =
      switch index {
      case 0: .normal
      case 2: .uncached
      default: .device
      }
    let gpu = access.gpuRead || access.gpuWrite
    return Protection(
      read: gpu ? access.gpuRead : access.firmwareRead,
      write: gpu ? access.gpuWrite : access.firmwareWrite,
      execute: gpu && (access.firmwareRead || access.firmwareWrite), user: gpu,
      global: entry & Self.notGlobalBit == 0, memoryType: memoryType,
      attributeIndex: index == Self.memoryAttribute(memoryType)
        ? nil : UInt8(truncatingIfNeeded: index),
      accessed: entry & Self.accessFlag != 0)
  }
}
