extension PageTable {
  /// What `virtualAddress` translates to, or `nil` if the hardware would fault
  /// (no mapping, or an address the table does not translate).
  ///
  /// Safe to call from any number of threads while others map and unmap: it
  /// announces itself to the table's reclamation (one compare-and-swap on a
  /// per-thread slot), so no table it walks is freed under it.
  public func translate(_ virtualAddress: UInt64) -> Translation? {
    guard isInsideWindow(virtualAddress, virtualAddress) else { return nil }
    let operation = enterOperation()
    defer { exitOperation(operation) }
    return walkToLeaf(virtualAddress & indexMask)
  }

  /// The walk of ``translate(_:)`` for an address inside the table's windows
  /// (index space), for a caller that keeps every table it can reach allocated
  /// (inside an operation, or with exclusive access).
  @inline(__always)
  func walkToLeaf(_ indexAddress: UInt64) -> Translation? {
    var tableAddress = root(for: indexAddress).address
    var level = 0
    while true {
      let geometry = plan(level)
      // (A level's shift is below 64: masking shifts need no range checks.)
      let index =
        Int(truncatingIfNeeded: indexAddress &>> geometry.shift) & (geometry.entryCount &- 1)
      // SAFETY: the caller keeps every table this walk reaches allocated.
      let entry = unsafe memory.unsafeTable(at: tableAddress, byteCount: geometry.tableBytes)
        .loadAcquiring(index)
      switch format.kind(of: entry, level: level) {
      case .empty:
        return nil
      case .leaf:
        return leafTranslation(entry, level: level, indexAddress: indexAddress)
      case .table:
        level &+= 1
        guard level < levelCount else { return nil }
        tableAddress = format.tableAddress(of: entry, level: level &- 1)
      }
    }
  }

  /// The translation a leaf gives.
  @inline(__always)
  func leafTranslation(_ entry: UInt64, level: Int, indexAddress: UInt64) -> Translation {
    Translation(
      physicalAddress: format.outputAddress(of: entry, level: level, virtualAddress: indexAddress),
      pageSize: plan(level).leafSize, level: level,
      protection: format.protection(of: entry, level: level), entry: entry)
  }
}
