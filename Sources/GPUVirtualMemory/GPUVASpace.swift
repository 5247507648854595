import PageTables

/// A GPU virtual address space and the VAs in it: drm_gpuvm's VA manager.
///
/// ```swift
/// var space = try GPUVASpace(start: 0x4000, range: 1 << 39, pageSize: 0x4000,
///                            reservedKernelNode: (1 << 39) - 0x100_0000 ..< 1 << 39)
/// let plan = try space.planMap(MapRequest(address: 0x10_0000, range: 0x8000,
///                                         backing: .object(BufferObjectID(1), offset: 0)))
/// try space.apply(plan)   // or apply(plan, handler:) to drive a page table step by step
/// ```
///
/// Planning (``planMap(_:)``, ``planUnmap(address:range:)``,
/// ``planMadvise(address:range:protection:)``) reads the space; applying a plan
/// changes it. As in the kernel (`DOC: Locking`), the space takes no lock: its
/// owner serialises planning and applying.
///
/// Differences from `drm_gpuvm`, noted where the kernel and this layer differ:
/// - Addresses and ranges must be multiples of ``pageSize`` (the kernel leaves
///   that to drivers; every driver checks it).
/// - The reserved kernel node is kept beside the tree, not in it; the kernel puts
///   it in the tree but refuses every request that touches it, so no plan ever
///   meets it either way.
public struct GPUVASpace: Sendable {
  /// The first managed address.
  public let start: UInt64
  /// The number of managed bytes.
  public let range: UInt64
  /// The page size every address and range is a multiple of.
  public let pageSize: UInt64
  /// Addresses no VA may touch (`kernel_alloc_node`), if any.
  public let reservedKernelNode: Range<UInt64>?
  /// The VAs.
  public internal(set) var tree = VATree()
  /// Bumped whenever the set of VAs changes; plans remember it.
  public internal(set) var generation: UInt64 = 0

  /// A space managing `[start, start + range)`.
  /// - Throws: ``GPUVMError`` if the space is empty, wraps, is not page aligned,
  ///   or the kernel node lies outside it.
  public init(
    start: UInt64, range: UInt64, pageSize: UInt64, reservedKernelNode: Range<UInt64>? = nil
  ) throws(GPUVMError) {
    guard pageSize > 0 && pageSize & (pageSize - 1) == 0 else { throw .invalidPageSize(pageSize) }
    guard range > 0 else { throw .emptyRange }
    guard start.addingReportingOverflow(range - 1).overflow == false else {
      throw .addressOverflow(address: start, range: range)
    }
    guard start % pageSize == 0 else { throw .misaligned(start) }
    guard range % pageSize == 0 else { throw .misaligned(range) }
    if let node = reservedKernelNode {
      guard !node.isEmpty, node.lowerBound >= start, node.upperBound &- 1 <= start &+ (range &- 1)
      else {
        throw .outsideSpace(
          address: node.lowerBound, range: node.upperBound &- node.lowerBound)
      }
    }
    self.start = start
    self.range = range
    self.pageSize = pageSize
    self.reservedKernelNode = reservedKernelNode
  }

  /// The VAs, in address order.
  public var vas: [GPUVA] { tree.all }
  /// The number of VAs.
  public var count: Int { tree.count }

  /// The VA that contains `address`, if any.
  public func va(containing address: UInt64) -> GPUVA? {
    guard let index = tree.firstOverlap(start: address, end: address &+ 1) else { return nil }
    return tree[index]
  }

  /// The VAs overlapping `[address, address + range)`.
  public func vas(overlapping address: UInt64, range: UInt64) -> [GPUVA] {
    tree.overlapping(start: address, end: address &+ range)
  }

  /// Checks a request's range (`drm_gpuvm_range_valid` plus page alignment).
  public func validate(address: UInt64, range: UInt64) throws(GPUVMError) {
    guard range > 0 else { throw .emptyRange }
    let (last, overflow) = address.addingReportingOverflow(range - 1)
    guard !overflow, last != UInt64.max else {
      throw .addressOverflow(address: address, range: range)
    }
    guard address % pageSize == 0 else { throw .misaligned(address) }
    guard range % pageSize == 0 else { throw .misaligned(range) }
    guard address >= start, last <= start &+ (self.range &- 1) else {
      throw .outsideSpace(address: address, range: range)
    }
    if let node = reservedKernelNode, address < node.upperBound, node.lowerBound <= last {
      throw .touchesReservedNode(address: address, range: range)
    }
  }

  /// Checks a VA for insertion: its range, its repeat window.
  func validate(_ va: GPUVA) throws(GPUVMError) {
    try validate(address: va.address, range: va.range)
    let backing = va.backing
    if backing.isRepeated {
      // The proposal's check_map_req: the repeated range is non-zero, at most the
      // VA range, and divides it; page alignment keeps every piece mappable.
      guard backing.repeatRange <= va.range, va.range % backing.repeatRange == 0,
        backing.repeatRange % pageSize == 0, backing.object != nil
      else { throw .invalidRepeat(objectRange: backing.repeatRange, vaRange: va.range) }
      guard backing.repeatBase % pageSize == 0 else { throw .misaligned(backing.repeatBase) }
    }
    guard backing.offset % pageSize == 0 else { throw .misaligned(backing.offset) }
  }

  /// Inserts a VA directly (`drm_gpuva_insert`).
  /// - Throws: ``GPUVMError/overlaps(existingAddress:existingRange:)`` if a VA is
  ///   in the way, or a range error; nothing changes then.
  public mutating func insert(_ va: GPUVA) throws(GPUVMError) {
    try validate(va)
    if let existing = tree.insert(va) {
      throw .overlaps(existingAddress: existing.address, existingRange: existing.range)
    }
    generation &+= 1
  }

  /// Removes the VA `[address, address + range)` directly (`drm_gpuva_remove`).
  @discardableResult
  public mutating func remove(address: UInt64, range: UInt64) throws(GPUVMError) -> GPUVA {
    guard let index = tree.floor(address), tree[index].address == address,
      tree[index].range == range
    else { throw .noSuchVA(address: address, range: range) }
    generation &+= 1
    return tree.remove(at: address)!
  }

  /// Reserves tree nodes so that the next `count` inserts allocate nothing.
  public mutating func reserveNodes(_ count: Int) { tree.reserve(count) }
}
