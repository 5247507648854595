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

  public func leafTemplate(for protection: Protection, level: Int) throws(PageTableError)
    -> UInt64
  {
    var entry = Self.valid | Self.accessFlag
    if level == pageIndex { entry |= Self.tableOrPage }
    if encoding != .lpa2 {
      entry |= protection.memoryType == .normal ? Self.innerShareable : Self.outerShareable
    }
    switch stage {
    case .one:
      // AP has no encoding without read access.
      guard protection.read else { throw .unsupportedProtection(protection) }
      entry |= Self.attributeIndex(protection.memoryType) << Self.attributeIndexShift
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
      guard !protection.user, !protection.global, protection.read || protection.write else {
        throw .unsupportedProtection(protection)
      }
      entry |= Self.stage2MemoryAttribute(protection.memoryType) << Self.memoryAttributeShift
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
      let memoryType: MemoryType
      switch entry >> Self.attributeIndexShift & 0b111 {
      case 1: memoryType = .device
      case 2: memoryType = .uncached
      default: memoryType = .normal
      }
      return Protection(
        read: true, write: entry & Self.accessReadOnly == 0 || writableClean,
        execute: entry & executeNever == 0, user: user, global: entry & Self.notGlobal == 0,
        memoryType: memoryType)
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
        memoryType: memoryType)
    }
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
