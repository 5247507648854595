extension PageTableError: CustomStringConvertible {
  /// One sentence naming the address or size at fault, in hexadecimal.
  public var description: String {
    switch self {
    case .misalignedVirtualAddress(let a):
      "virtual address 0x\(hex(a)) is not aligned to the format's page size"
    case .misalignedPhysicalAddress(let a):
      "physical address 0x\(hex(a)) is not aligned to the format's page size"
    case .misalignedSize(let s): "size 0x\(hex(s)) is not a multiple of the format's page size"
    case .zeroSize: "size is zero"
    case .addressOverflow(let a, let s): "0x\(hex(a)) + 0x\(hex(s)) overflows 64 bits"
    case .virtualAddressOutOfRange(let a):
      "virtual range at 0x\(hex(a)) is outside the addresses this table translates"
    case .physicalAddressOutOfRange(let a):
      "physical range at 0x\(hex(a)) does not fit the format's output address size"
    case .unsupportedProtection(let p):
      "the format cannot express protection read=\(p.read) write=\(p.write) "
        + "execute=\(p.execute) user=\(p.user) global=\(p.global) memory=\(p.memoryType)"
    case .alreadyMapped(let a): "virtual address 0x\(hex(a)) is already mapped"
    case .outOfTableMemory: "table memory ran out"
    case .invalidConfiguration(let why): "invalid format configuration: \(why)"
    case .dirtyTrackingUnsupported: "the format has no hardware dirty state"
    }
  }
}
