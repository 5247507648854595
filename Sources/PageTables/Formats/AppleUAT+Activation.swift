/// The context-table (TTBAT) slot that makes the AGX GPU and its firmware walk a
/// UAT table.
///
/// ```swift
/// let user = try PageTable(format: AppleUATFormat(addressSpace: .user), memory: memory)
/// let kernel = try PageTable(format: AppleUATFormat(addressSpace: .kernel), memory: memory)
/// let slot = try AppleUATFormat.contextActivation(
///   userRoot: user.rootAddress(), asid: 5, kernelRoot: kernel.rootAddress())
/// // TTBAT[5] = (slot.ttb0, slot.ttb1), after invalidating ASID 5's TLB entries
/// ```
///
/// From the Asahi Linux GPU driver, `drivers/gpu/drm/asahi/mmu.rs`: each of the 64
/// TTBAT slots is a pair `ttb0, ttb1` (`ContextTTBS`); `ttb0` is the context's
/// lower-half table as `root | TTBR_VALID (bit 0) | asid << TTBR_ASID_SHIFT (48)`
/// with the ASID equal to the slot, and `ttb1` is the shared kernel (upper-half)
/// table as `root | TTBR_VALID`. Slot 0 is the kernel's: its `ttb0` is 0.
extension AppleUATFormat {
  /// One TTBAT slot's values.
  public struct ContextActivation: Sendable, Equatable {
    /// The slot (and ASID), 0..<64.
    public var slot: Int
    /// The lower-half table: `root | 1 | asid << 48`, or 0 for none.
    public var ttb0: UInt64
    /// The kernel table: `root | 1`, or 0 for none.
    public var ttb1: UInt64

    /// The two words of the slot.
    public var registers: [RegisterValue] {
      [RegisterValue("TTBAT.ttb0", ttb0), RegisterValue("TTBAT.ttb1", ttb1)]
    }
  }

  /// The slot values for a context: its user table at `userRoot` (nil: none, as
  /// for slot 0) tagged with `asid`, and the kernel table at `kernelRoot`.
  /// - Throws: ``PageTableError/misalignedPhysicalAddress(_:)`` for a root not
  ///   16 KiB aligned, ``PageTableError/physicalAddressOutOfRange(_:)`` for one at
  ///   or above 2^48, ``PageTableError/invalidConfiguration(_:)`` for an `asid`
  ///   outside 0..<64.
  public static func contextActivation(
    userRoot: UInt64?, asid: Int, kernelRoot: UInt64?
  ) throws(PageTableError) -> ContextActivation {
    var ttb0: UInt64 = 0
    if let userRoot { ttb0 = try contextTableEntry(rootAddress: userRoot, asid: asid) }
    guard (0..<contextCount).contains(asid) else {
      throw .invalidConfiguration("AppleUAT: ASID \(asid) is not a context slot (0..<64)")
    }
    var ttb1: UInt64 = 0
    if let kernelRoot { ttb1 = try contextTableEntry(rootAddress: kernelRoot, asid: 0) }
    return ContextActivation(slot: asid, ttb0: ttb0, ttb1: ttb1)
  }
}
