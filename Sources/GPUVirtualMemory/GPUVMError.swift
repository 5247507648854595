import PageTables

/// Why the GPU virtual-memory layer refused a request.
///
/// Every case is a caller's mistake or a resource limit; a request that throws
/// changed nothing. Broken internal invariants trap instead, naming the invariant.
public enum GPUVMError: Error, Equatable, Sendable {
  /// A range of zero bytes was given.
  case emptyRange
  /// `address + range` overflows 64 bits.
  case addressOverflow(address: UInt64, range: UInt64)
  /// An address or size is not a multiple of the space's page size.
  case misaligned(UInt64)
  /// The range is not inside the managed VA space.
  case outsideSpace(address: UInt64, range: UInt64)
  /// The range touches the space's reserved kernel node.
  case touchesReservedNode(address: UInt64, range: UInt64)
  /// A VA already covers part of the range (inserting a VA never overlaps).
  case overlaps(existingAddress: UInt64, existingRange: UInt64)
  /// No VA starts at this address with this range.
  case noSuchVA(address: UInt64, range: UInt64)
  /// A repeat mapping's object range is empty, larger than the VA range, or does
  /// not divide it.
  case invalidRepeat(objectRange: UInt64, vaRange: UInt64)
  /// The object range the request names lies (partly) outside the object.
  case outsideObject(object: BufferObjectID, offset: UInt64, range: UInt64)
  /// The request names an object this VM does not know.
  case unknownObject(BufferObjectID)
  /// The plan was made against an older state of the VA space (another plan was
  /// applied since): plan again.
  case stalePlan
  /// Another prepared bind is waiting for its commit; commit or drop it first.
  case bindInProgress
  /// Table memory ran out while reserving the tables a bind may need.
  case outOfTableMemory
  /// Backing pages for a buffer object could not be allocated.
  case outOfPages
  /// The page-table format refused the request's protection or addresses.
  case pageTable(PageTableError)
  /// Every context slot is taken.
  case noFreeContextSlot
  /// Every ASID is taken.
  case noFreeASID
  /// The VM is not bound to a context slot.
  case notBoundToContext
  /// The object is evicted: revalidate it before binding it.
  case objectEvicted(BufferObjectID)
  /// A VM still maps the object.
  case objectInUse(BufferObjectID)
  /// The prepared bind belongs to another VM.
  case wrongVM
  /// A VA space's page size that is not a power of two (or is zero).
  case invalidPageSize(UInt64)
  /// Context slots need slot 0 for the kernel and at least one for a user VM, and
  /// ASIDs likewise: fewer than 2 of either was asked for.
  case tooFewContexts(slots: Int, asids: Int)
}

extension GPUVMError: CustomStringConvertible {
  /// One sentence saying what was refused.
  public var description: String {
    switch self {
    case .emptyRange: "the range is empty"
    case .addressOverflow(let a, let r): "0x\(hex(a)) + 0x\(hex(r)) overflows 64 bits"
    case .misaligned(let v): "0x\(hex(v)) is not a multiple of the page size"
    case .outsideSpace(let a, let r): "[0x\(hex(a)), +0x\(hex(r))) is outside the VA space"
    case .touchesReservedNode(let a, let r):
      "[0x\(hex(a)), +0x\(hex(r))) touches the reserved kernel node"
    case .overlaps(let a, let r): "the range overlaps the VA [0x\(hex(a)), +0x\(hex(r)))"
    case .noSuchVA(let a, let r): "no VA [0x\(hex(a)), +0x\(hex(r)))"
    case .invalidRepeat(let o, let v):
      "a repeated object range of 0x\(hex(o)) bytes must be non-empty and divide 0x\(hex(v))"
    case .outsideObject(let o, let off, let r):
      "[0x\(hex(off)), +0x\(hex(r))) is outside object \(o.rawValue)"
    case .unknownObject(let o): "object \(o.rawValue) is not known to this VM"
    case .stalePlan: "the plan was made before the VA space last changed"
    case .bindInProgress: "another prepared bind has not been committed"
    case .outOfTableMemory: "table memory ran out"
    case .outOfPages: "no pages left for the buffer object"
    case .pageTable(let e): "page table: \(e)"
    case .noFreeContextSlot: "every context slot is taken"
    case .noFreeASID: "every ASID is taken"
    case .notBoundToContext: "the VM is not bound to a context slot"
    case .objectEvicted(let o): "object \(o.rawValue) is evicted"
    case .objectInUse(let o): "object \(o.rawValue) is still mapped"
    case .wrongVM: "the prepared bind belongs to another VM"
    case .invalidPageSize(let size): "a page size of 0x\(hex(size)) bytes is not a power of two"
    case .tooFewContexts(let slots, let asids):
      "\(slots) context slots and \(asids) ASIDs: at least 2 of each (one for the kernel)"
    }
  }
}

/// `value` in lower-case hexadecimal, no prefix.
func hex(_ value: UInt64) -> String { String(value, radix: 16) }
