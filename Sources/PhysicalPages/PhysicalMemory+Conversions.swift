/// Checked conversions between the machine's ways of naming a page:
/// physical address ↔ frame number ↔ direct-map address.
///
/// ```swift
/// let frame = try memory.frameNumber(of: 0x8000_3000)      // 0x80003
/// let address = try memory.physicalAddress(ofFrame: frame) // 0x80003000
/// let pointer = try unsafe memory.directMapAddress(of: address)
/// ```
extension PhysicalMemory {
  /// The page frame number (`address / pageSize`) of a page-aligned RAM address.
  public func frameNumber(of address: PhysicalAddress) throws(PageError) -> UInt64 {
    core.frameNumber(try core.index(of: address))
  }

  /// The physical address of a RAM frame number.
  public func physicalAddress(ofFrame frame: UInt64) throws(PageError) -> PhysicalAddress {
    let (address, overflow) = frame.multipliedReportingOverflow(by: UInt64(pageSize))
    guard !overflow else { throw .addressOutsideRAM(PhysicalAddress(UInt64.max)) }
    _ = try core.index(of: PhysicalAddress(address))
    return PhysicalAddress(address)
  }

  /// The direct-map address of a page-aligned RAM address.
  ///
  /// - Safety: the pointer may only be dereferenced while the block it lies in is
  ///   allocated to the caller (or borrowed), within that block.
  @unsafe
  public func directMapAddress(of address: PhysicalAddress) throws(PageError)
    -> UnsafeMutableRawPointer
  {
    unsafe core.directMapAddress(try core.index(of: address))
  }

  /// The physical address of a direct-map pointer (`virt_to_phys`), any byte of a page.
  @safe
  public func physicalAddress(ofDirectMapAddress pointer: UnsafeRawPointer) throws(PageError)
    -> PhysicalAddress
  {
    let value = UInt(bitPattern: pointer)
    guard let index = core.directMapIndex(of: value) else {
      throw .addressNotMapped(address: value)
    }
    return core.physicalAddress(index) + UInt64(value & UInt(pageSize - 1))
  }
}
