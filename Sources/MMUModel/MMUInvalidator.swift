import PageTables

/// The `TLBInvalidator` of one address space of an ``MMU``: the engine's gather
/// flush issues its commands through it, unchanged.
///
/// ```swift
/// var gather = TLBGather(invalidator: mmu.invalidator(for: space))
/// try table.unmap(virtualAddress: va, size: size, gather: &gather)
/// table.flush(&gather)        // → .asidRange(asid:start:size:granule:leafOnly:)
/// ```
///
/// `invalidate(start:size:granule:leafOnly:)` becomes a by-ASID-and-range command
/// (which also removes global entries of the range); `invalidateAll()` becomes a
/// by-ASID command, or a full one for a space whose leaves are global (set
/// ``globalSpace``).
public struct MMUInvalidator<Format: PageTableFormat, Memory: TableMemory>: TLBInvalidator,
  Sendable
{
  /// The model the commands go to.
  public let mmu: MMU<Format, Memory>
  /// The address space whose ASID and VMID tag the commands.
  public let space: AddressSpace
  /// The space maps global leaves (a kernel or firmware space), so "invalidate
  /// everything" must not be limited to its ASID.
  public var globalSpace = false
  /// Every command issued, in order (for tests that assert on them).
  public private(set) var commands: [TLBInvalidation] = []

  /// An invalidator sending `space`'s commands to `mmu` (``MMU/invalidator(for:)``).
  public init(mmu: MMU<Format, Memory>, space: AddressSpace) {
    self.mmu = mmu
    self.space = space
  }

  public mutating func invalidateAll() {
    issue(globalSpace ? .all : .asid(space.asid))
  }

  public mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    issue(
      .asidRange(asid: space.asid, start: start, size: size, granule: granule, leafOnly: leafOnly))
  }

  mutating func issue(_ command: TLBInvalidation) {
    commands.append(command)
    mmu.invalidate(command, vmid: space.vmid)
  }
}
