extension ImageTableMemory {
  /// Runs `body` with the table at `physicalAddress` after checking that it is one
  /// this image handed out and has not taken back: for a caller outside the engine
  /// (an image inspector) whose address comes from outside. The engine's own
  /// ``withTable(at:byteCount:_:)`` traps on such an address instead (the contract of
  /// ``TableMemory``).
  ///
  /// ```swift
  /// let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
  /// let table = try PageTable(format: RISCVFormat(.sv39), memory: image)
  /// let entries = try image.withTable(checkedAt: table.rootAddress(), byteCount: 4096) {
  ///   $0.count
  /// }                                                           // 512
  /// ```
  ///
  /// - Throws: ``ImageTableMemoryError/notATable(physicalAddress:byteCount:)``.
  public func withTable<R>(
    checkedAt physicalAddress: UInt64, byteCount size: Int, _ body: (TableView) -> R
  ) throws(ImageTableMemoryError) -> R {
    guard isLiveTable(physicalAddress, size) else {
      throw .notATable(physicalAddress: physicalAddress, byteCount: size)
    }
    return withTable(at: physicalAddress, byteCount: size, body)
  }

  /// Gives back the table at `physicalAddress` after checking that it is one this
  /// image handed out and has not taken back (so a wrong or repeated free cannot
  /// make the image hand one table out twice).
  ///
  /// - Throws: ``ImageTableMemoryError/notATable(physicalAddress:byteCount:)``.
  public func freeTable(checkedAt physicalAddress: UInt64, byteCount size: Int)
    throws(ImageTableMemoryError)
  {
    guard isLiveTable(physicalAddress, size) else {
      throw .notATable(physicalAddress: physicalAddress, byteCount: size)
    }
    freeTable(at: physicalAddress, byteCount: size)
  }

  /// Whether `[physicalAddress, physicalAddress + size)` is a table of a size the
  /// image hands out, aligned to it, in the part handed out so far, and not free.
  func isLiveTable(_ physicalAddress: UInt64, _ size: Int) -> Bool {
    guard size >= 8 && size & (size &- 1) == 0,
      let offset = offsetInImage(physicalAddress, max(size, Self.wordGranule))
    else { return false }
    let slot = max(size, Self.wordGranule)
    guard offset % slot == 0 else { return false }
    return lock.withLock {
      guard offset &+ slot <= next else { return false }
      return !freeLists.contains { $0.byteCount == slot && $0.offsets.contains(offset) }
    }
  }
}
