extension PageTable {
  /// Checks a virtual range and returns its start in index space (the address
  /// with the bits above the table's index bits removed).
  @inline(__always)
  func locate(_ virtualAddress: UInt64, size: UInt64) throws(PageTableError) -> UInt64 {
    guard size != 0 else { throw .zeroSize }
    guard virtualAddress & (granule &- 1) == 0 else {
      throw .misalignedVirtualAddress(virtualAddress)
    }
    guard size & (granule &- 1) == 0 else { throw .misalignedSize(size) }
    let (last, overflow) = virtualAddress.addingReportingOverflow(size &- 1)
    guard !overflow else { throw .addressOverflow(address: virtualAddress, size: size) }
    guard isInsideWindow(virtualAddress, last) else {
      throw .virtualAddressOutOfRange(virtualAddress)
    }
    return virtualAddress & indexMask
  }

  /// Checks a physical range against the format's granule and output size.
  @inline(__always)
  func checkOutput(_ physicalAddress: UInt64, size: UInt64) throws(PageTableError) {
    guard physicalAddress & (granule &- 1) == 0 else {
      throw .misalignedPhysicalAddress(physicalAddress)
    }
    let (last, overflow) = physicalAddress.addingReportingOverflow(size &- 1)
    guard !overflow, last < outputLimit || outputLimit == ~0 else {
      throw .physicalAddressOutOfRange(physicalAddress)
    }
  }

  /// Whether `[first, last]` lies inside one window.
  @inline(__always)
  func isInsideWindow(_ first: UInt64, _ last: UInt64) -> Bool {
    (firstWindow.contains(first) && firstWindow.contains(last))
      || (hasTwoWindows && secondWindow.contains(first) && secondWindow.contains(last))
  }

  /// The virtual address an index-space address stands for.
  @inline(__always)
  func externalAddress(_ indexAddress: UInt64) -> UInt64 {
    let candidate = (firstWindow.first & ~indexMask) | indexAddress
    if firstWindow.contains(candidate) { return candidate }
    if hasTwoWindows {
      let other = (secondWindow.first & ~indexMask) | indexAddress
      if secondWindow.contains(other) { return other }
    }
    return indexAddress
  }

  /// The root table covering an index-space address, and the address its index 0 covers.
  @inline(__always)
  func root(for indexAddress: UInt64) -> (address: UInt64, base: UInt64) {
    // One root (every format but DART's) needs no shift: the root may cover all 64 bits.
    guard rootCount > 1 else { return (unsafe rootTables[unchecked: 0], 0) }
    let root = Int(truncatingIfNeeded: indexAddress &>> UInt64(rootCoverageBits))
    // SAFETY: `indexAddress` lies in index space (masked to the root-select and root
    // coverage bits), so `root` is below `rootCount`.
    return (unsafe rootTables[unchecked: root], UInt64(root) &<< UInt64(rootCoverageBits))
  }

  /// The end (exclusive) of the index-space range a table at `level` based at `base`
  /// covers, or `~0` if that is 2^64.
  @inline(__always)
  func tableEnd(level: Int, base: UInt64) -> UInt64 {
    plan(level).tableEnd(base: base)
  }
}
