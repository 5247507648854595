import PageTables
import PhysicalPages

// The engine speaks `UInt64` (it is Embedded-clean and knows nothing of the page
// layer); the page layer speaks `PhysicalAddress`. They meet here, so neither side
// writes `.rawValue` at the boundary.

extension PageTable {
  /// Maps `[virtualAddress, virtualAddress + size)` to the page layer's physical
  /// address `physicalAddress` (see the engine's
  /// `map(virtualAddress:physicalAddress:size:protection:)` for the rules).
  ///
  /// ```swift
  /// let page = try ram.allocatePage(zeroed: true)
  /// try table.map(virtualAddress: 0x10_0000, physicalAddress: page.physicalAddress,
  ///               size: 0x1000, protection: .readWrite)
  /// ```
  ///
  /// The table holds no reference on the page: freeing the page while it is mapped
  /// leaves the mapping pointing at reused memory. ``OwningPageTable`` holds one.
  @_disfavoredOverload
  public func map(
    virtualAddress: UInt64, physicalAddress: PhysicalAddress, size: UInt64,
    protection: Protection
  ) throws(PageTableError) {
    try map(
      virtualAddress: virtualAddress, physicalAddress: physicalAddress.rawValue, size: size,
      protection: protection)
  }
}

extension Translation {
  /// The translated byte's physical address as the page layer names it.
  ///
  /// ```swift
  /// let address = table.translate(0x10_0123)?.pagePhysicalAddress  // PhysicalAddress?
  /// ```
  public var pagePhysicalAddress: PhysicalAddress { PhysicalAddress(physicalAddress) }
}

extension PhysicalAddress {
  /// Whether an engine address (such as `Translation.physicalAddress`, or nil for
  /// "not mapped") is this address: `table.translate(va)?.physicalAddress == page.physicalAddress`.
  public static func == (lhs: UInt64?, rhs: PhysicalAddress) -> Bool {
    lhs == rhs.rawValue
  }

  /// Whether this address is an engine address (or nil for "not mapped").
  public static func == (lhs: PhysicalAddress, rhs: UInt64?) -> Bool {
    lhs.rawValue == rhs
  }
}
