extension PageTableError: CustomStringConvertible {
  /// One sentence naming the address or size at fault (see ``ValueText``).
  public var description: String {
    switch self {
    case .misalignedVirtualAddress(let a):
      "virtual address \(ValueText.hex(a)) is not aligned to the format's page size"
    case .misalignedPhysicalAddress(let a):
      "physical address \(ValueText.hex(a)) is not aligned to the format's page size"
    case .misalignedSize(let s):
      "size \(ValueText.hex(s)) (\(ValueText.size(s))) is not a multiple of the format's page size"
    case .zeroSize: "size is zero"
    case .addressOverflow(let a, let s):
      "\(ValueText.hex(a)) + \(ValueText.hex(s)) overflows 64 bits"
    case .virtualAddressOutOfRange(let a):
      "virtual range at \(ValueText.hex(a)) is outside the addresses this table translates"
    case .physicalAddressOutOfRange(let a):
      "physical range at \(ValueText.hex(a)) does not fit the format's output address size"
    case .unsupportedProtection(let p): "the format cannot express protection \(p)"
    case .alreadyMapped(let a): "virtual address \(ValueText.hex(a)) is already mapped"
    case .outOfTableMemory: "table memory ran out"
    case .invalidConfiguration(let why): "invalid format configuration: \(why)"
    case .dirtyTrackingUnsupported: "the format has no hardware dirty state"
    case .tableMemoryOutOfReach(let a):
      "a table at physical address 0x\(hex(a)) is out of the format's reach "
        + "(above its output size, or cut off by its table entries' address field)"
    case .rootIndexOutOfRange(let index, let count):
      "root table \(index) does not exist (the table has \(count) root table(s))"
    }
  }
}
