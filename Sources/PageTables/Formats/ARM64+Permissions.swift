/// Permission, memory-type and dirty-state bits of ARM64 leaves (Arm ARM D8.3.2,
/// D8.4, D8.5; see ``ARM64Format`` for the encoding choices).
extension ARM64Format {
  // Stage 1 (lower and upper attributes of block and page descriptors).
  @usableFromInline static var attributeIndexShift: UInt64 { 2 }
  /// AP[1]: EL0 may access.
  @usableFromInline static var accessUnprivileged: UInt64 { 1 << 6 }
  /// AP[2]: read-only.
  @usableFromInline static var accessReadOnly: UInt64 { 1 << 7 }
  @usableFromInline static var innerShareable: UInt64 { 3 << 8 }
  @usableFromInline static var outerShareable: UInt64 { 2 << 8 }
  @usableFromInline static var notGlobal: UInt64 { 1 << 11 }
  @usableFromInline static var privilegedExecuteNever: UInt64 { 1 << 53 }
  @usableFromInline static var unprivilegedExecuteNever: UInt64 { 1 << 54 }

  // Stage 2.
  @usableFromInline static var memoryAttributeShift: UInt64 { 2 }
  /// S2AP[0]: read.
  @usableFromInline static var stage2Read: UInt64 { 1 << 6 }
  /// S2AP[1]: write.
  @usableFromInline static var stage2Write: UInt64 { 1 << 7 }
  /// XN[1]: execute-never at every exception level (XN[0], bit 53, stays 0).
  @usableFromInline static var stage2ExecuteNever: UInt64 { 1 << 54 }

  /// Software-defined bits [58:55], ignored by the hardware at both stages (Arm ARM
  /// D8.3.2, "Reserved for software use").
  @usableFromInline static var softwareShift: UInt64 { 55 }
  /// The ``Protection/softwareBits`` an entry can hold (4).
  public static var softwareBitMask: UInt16 { 0xF }

  /// The MAIR index of a memory type (see ``mair``).
  @inline(__always)
  static func attributeIndex(_ type: MemoryType) -> UInt64 {
    switch type {
    case .normal: return 0
    case .device: return 1
    case .uncached: return 2
    }
  }

  /// The stage-2 MemAttr[3:0] of a memory type (HCR_EL2.FWB = 0).
  @inline(__always)
  static func stage2MemoryAttribute(_ type: MemoryType) -> UInt64 {
    switch type {
    case .normal: return 0b1111
    case .uncached: return 0b0101
    case .device: return 0b0001
    }
  }

  /// Whether `attribute` (nil: the memory type's) is a stage-2 MemAttr[3:0] with
  /// HCR_EL2.FWB = 0: Device (MemAttr[3:2] = 0) with any [1:0], or Normal with
  /// outer and inner cacheability not 0 (Arm ARM D8.6.5; [1:0] = 0 is reserved).
  static func isStage2MemoryAttribute(_ attribute: UInt8?) -> Bool {
    guard let attribute else { return true }
    return attribute < 16 && (attribute & 0b1100 == 0 || attribute & 0b11 != 0)
  }

  /// The leaf bits for `protection` (see the type's "Stage 1 attributes" and "Stage 2
  /// attributes"): ``Protection/softwareBits`` go to bits [58:55] (4 bits),
  /// ``Protection/attributeIndex`` is AttrIndx (0...7) at stage 1 and MemAttr
  /// (0...15, not a reserved Normal encoding) at stage 2, and AF is set when
  /// ``Protection/accessed`` is (leave it clear only with TCR_ELx.HA / VTCR_EL2.HA set,
  /// or an Access flag fault handler).
  public func leafTemplate(for protection: Protection, level: Int) throws(PageTableError)
    -> UInt64
  {
    guard protection.softwareBits & ~Self.softwareBitMask == 0 else {
      throw .unsupportedProtection(protection)
    }
    var entry = Self.valid | UInt64(protection.softwareBits) << Self.softwareShift
    if protection.accessed { entry |= Self.accessFlag }
    if level == pageIndex { entry |= Self.tableOrPage }
    if encoding != .lpa2 {
      let inner = protection.memoryType == .normal || protection.attributeIndex != nil
      entry |= inner ? Self.innerShareable : Self.outerShareable
    }
    switch stage {
    case .one:
      // AP has no encoding without read access; AttrIndx has three bits.
      guard protection.read, protection.attributeIndex ?? 0 < 8 else {
        throw .unsupportedProtection(protection)
      }
      let index = protection.attributeIndex.map { UInt64($0) }
      entry |= (index ?? Self.attributeIndex(protection.memoryType)) << Self.attributeIndexShift
      if protection.user {
        entry |= Self.accessUnprivileged | Self.privilegedExecuteNever
        if !protection.execute { entry |= Self.unprivilegedExecuteNever }
      } else {
        entry |= Self.unprivilegedExecuteNever
        if !protection.execute { entry |= Self.privilegedExecuteNever }
      }
      if !protection.write {
        entry |= Self.accessReadOnly
      } else if dirtyTracking {
        entry |= Self.dirtyBitModifier | Self.accessReadOnly
      }
      if !protection.global { entry |= Self.notGlobal }
    case .two:
      guard !protection.user, !protection.global, protection.read || protection.write,
        Self.isStage2MemoryAttribute(protection.attributeIndex)
      else {
        throw .unsupportedProtection(protection)
      }
      let attribute = protection.attributeIndex.map { UInt64($0) }
      entry |=
        (attribute ?? Self.stage2MemoryAttribute(protection.memoryType))
        << Self.memoryAttributeShift
      if protection.read { entry |= Self.stage2Read }
      if protection.write {
        entry |= dirtyTracking ? Self.dirtyBitModifier : Self.stage2Write
      }
      if !protection.execute { entry |= Self.stage2ExecuteNever }
    }
    return entry
  }

  public func protection(of entry: UInt64, level: Int) -> Protection {
    let writableClean = dirtyTracking && entry & Self.dirtyBitModifier != 0
    switch stage {
    case .one:
      let user = entry & Self.accessUnprivileged != 0
      let executeNever = user ? Self.unprivilegedExecuteNever : Self.privilegedExecuteNever
      let index = entry >> Self.attributeIndexShift & 0b111
      let memoryType: MemoryType
      switch index {
      case 1: memoryType = .device
      case 2: memoryType = .uncached
      default: memoryType = .normal
      }
      return Protection(
        read: true, write: entry & Self.accessReadOnly == 0 || writableClean,
        execute: entry & executeNever == 0, user: user, global: entry & Self.notGlobal == 0,
        memoryType: memoryType, softwareBits: softwareBits(of: entry),
        attributeIndex: index == Self.attributeIndex(memoryType)
          ? nil : UInt8(truncatingIfNeeded: index),
        accessed: entry & Self.accessFlag != 0)
    case .two:
      let attribute = entry >> Self.memoryAttributeShift & 0b1111
      let memoryType: MemoryType
      if attribute & 0b1100 == 0 {
        memoryType = .device
      } else if attribute == 0b0101 {
        memoryType = .uncached
      } else {
        memoryType = .normal
      }
      return Protection(
        read: entry & Self.stage2Read != 0, write: entry & Self.stage2Write != 0 || writableClean,
        execute: entry & Self.stage2ExecuteNever == 0, user: false, global: false,
        memoryType: memoryType, softwareBits: softwareBits(of: entry),
        attributeIndex: attribute == Self.stage2MemoryAttribute(memoryType)
          ? nil : UInt8(truncatingIfNeeded: attribute),
        accessed: entry & Self.accessFlag != 0)
    }
  }

  @inline(__always)
  func softwareBits(of entry: UInt64) -> UInt16 {
    UInt16(truncatingIfNeeded: entry >> Self.softwareShift) & Self.softwareBitMask
  }

  public var tracksDirtyState: Bool { dirtyTracking }

  /// Writable-dirty: DBM set and the hardware has granted write access (stage 1:
  /// AP[2] cleared; stage 2: S2AP[1] set).
  public func isDirty(_ entry: UInt64, level: Int) -> Bool {
    guard entry & Self.dirtyBitModifier != 0 else { return false }
    switch stage {
    case .one: return entry & Self.accessReadOnly == 0
    case .two: return entry & Self.stage2Write != 0
    }
  }

  /// Back to writable-clean; an entry without DBM is left alone (cleaning it would
  /// take its write permission away for good).
  public func cleaned(_ entry: UInt64, level: Int) -> UInt64 {
    guard entry & Self.dirtyBitModifier != 0 else { return entry }
    switch stage {
    case .one: return entry | Self.accessReadOnly
    case .two: return entry & ~Self.stage2Write
    }
  }
}
