/// One address space the model translates for: its root tables and its tags.
///
/// ```swift
/// let space = mmu.attach(table, asid: 5)      // TTBR0 with ASID 5
/// _ = try mmu.access(0x1000, .read, in: space)
/// ```
///
/// Translations are cached in the TLB tagged with `vmid` and, unless their leaf is
/// global, with `asid`. A format without ASIDs (DART, say) uses 0 for both.
public struct AddressSpace: Hashable, Sendable, CustomStringConvertible {
  /// The model's number for the space (the order it was attached in).
  public let index: Int
  /// The address-space identifier (ARM ASID, x86 PCID, RISC-V ASID, UAT context).
  public let asid: UInt16
  /// The virtual-machine identifier (stage 2), or 0.
  public let vmid: UInt16

  public var description: String {
    "address space \(index) (ASID \(asid), VMID \(vmid))"
  }
}
