extension PageTable {
  /// What `virtualAddress` translates to, or `nil` if the hardware would fault
  /// (no mapping, or an address the table does not translate).
  public func translate(_ virtualAddress: UInt64) -> Translation? {
    guard isInsideWindow(virtualAddress, virtualAddress) else { return nil }
    let indexAddress = virtualAddress & indexMask
    enterOperation()
    defer { exitOperation() }
    let (rootAddress, _) = root(for: indexAddress)
    var tableAddress = rootAddress
    for level in 0..<levelCount {
      let geometry = plan(level)
      let index =
        Int(truncatingIfNeeded: indexAddress >> geometry.shift) & (geometry.entryCount &- 1)
      let entry = memory.withTable(at: tableAddress, byteCount: geometry.tableBytes) { view in
        view.loadAcquiring(index)
      }
      switch format.kind(of: entry, level: level) {
      case .empty:
        return nil
      case .leaf:
        return Translation(
          physicalAddress: format.outputAddress(
            of: entry, level: level, virtualAddress: indexAddress),
          pageSize: geometry.leafSize, level: level,
          protection: format.protection(of: entry, level: level), entry: entry)
      case .table:
        guard level + 1 < levelCount else { return nil }
        tableAddress = format.tableAddress(of: entry, level: level)
      }
    }
    return nil
  }
}
