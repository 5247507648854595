/// Why a page-table operation refused its arguments or could not complete.
///
/// Every case is a caller's mistake or a resource limit, never a broken invariant
/// (those trap). An operation that throws leaves the table as it was, except where
/// the case says how far it got.
public enum PageTableError: Error, Equatable, Sendable {
  /// A virtual address is not aligned to the smallest page size of the format.
  case misalignedVirtualAddress(UInt64)
  /// A physical address is not aligned to the smallest page size of the format.
  case misalignedPhysicalAddress(UInt64)
  /// A size is not a multiple of the smallest page size of the format.
  case misalignedSize(UInt64)
  /// A size of zero was given.
  case zeroSize
  /// `address + size` overflows 64 bits.
  case addressOverflow(address: UInt64, size: UInt64)
  /// The virtual range is outside every range the table translates (not canonical,
  /// above the input size, or straddling two windows).
  case virtualAddressOutOfRange(UInt64)
  /// The physical range does not fit the format's output address size.
  case physicalAddressOutOfRange(UInt64)
  /// The format cannot express this protection.
  case unsupportedProtection(Protection)
  /// Something is already mapped at this virtual address (a leaf, or a table with
  /// live mappings below it). Whatever the request had mapped before it met the
  /// conflict was rolled back, so nothing changed.
  case alreadyMapped(virtualAddress: UInt64)
  /// Table memory ran out; the partial mapping was rolled back, so nothing changed.
  case outOfTableMemory
  /// The configuration of a format is not one the architecture defines.
  case invalidConfiguration(String)
  /// The format has no hardware dirty state.
  case dirtyTrackingUnsupported
  /// Table memory handed out a table at this physical address, which the format's
  /// table entries (or its root register) cannot hold: above the output size, or
  /// cut off by the address field. Refused when the table is made (for memory
  /// that knows its range, ``TableMemory/tableAddressRange``) or when the table
  /// would be linked; nothing changed.
  case tableMemoryOutOfReach(physicalAddress: UInt64)
  /// A root table index that is not below the table's root count.
  case rootIndexOutOfRange(index: Int, rootCount: Int)

}
