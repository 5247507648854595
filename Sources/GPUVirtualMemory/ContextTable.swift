/// Address-space context slots like the AGX GPU's TTBAT: `slotCount` slots, slot 0
/// the kernel VM's, each holding the register value of the VM bound to it
/// (`root | valid | ASID << 48` for Apple UAT), with an ASID allocator and
/// ASID-wide invalidation whenever a VM enters or leaves a slot.
///
/// ```swift
/// var contexts = try ContextTable(slotCount: 64, asidCount: 64, tlb: RecordingGPUTLB())
/// let slot = try contexts.bind(vmID: 7, register: { asid in root | 1 | UInt64(asid) << 48 })
/// contexts.registers[slot]          // what the GPU reads
/// contexts.unbind(vmID: 7)          // invalidates the ASID, clears the slot
/// ```
///
/// Asahi's driver (`mmu.rs`) uses the slot number as the ASID; here ASIDs come
/// from their own allocator, so formats with wider ASIDs (ARM64's 16 bits, for
/// Mali/Panthor address spaces) work the same way. The kernel VM is bound with
/// ``bindKernel(vmID:register:)`` to slot 0 and ASID 0.
public struct ContextTable {
  /// The value of each slot's register (0: not valid).
  public private(set) var registers: [UInt64]
  /// Which VM (by id) holds each slot.
  public private(set) var owners: [UInt32?]
  /// The ASID of each slot's VM.
  public private(set) var asids: [Int?]
  /// The TLB the invalidations go to.
  public let tlb: any GPUTLB
  /// The ASIDs in use.
  public private(set) var asidAllocator: ASIDAllocator

  /// `slotCount` empty slots and `asidCount` ASIDs (ASID 0 kept for the kernel).
  /// - Throws: ``GPUVMError/tooFewContexts(slots:asids:)`` for fewer than 2 slots or
  ///   2 ASIDs (the kernel's and at least one user VM's).
  public init(slotCount: Int, asidCount: Int, tlb: any GPUTLB) throws(GPUVMError) {
    guard slotCount > 1 && asidCount > 1 else {
      throw .tooFewContexts(slots: slotCount, asids: asidCount)
    }
    registers = Array(repeating: 0, count: slotCount)
    owners = Array(repeating: nil, count: slotCount)
    asids = Array(repeating: nil, count: slotCount)
    self.tlb = tlb
    asidAllocator = ASIDAllocator(count: asidCount)
    _ = asidAllocator.allocate()  // ASID 0: the kernel's
  }

  /// The slot `vmID` is bound to, if any.
  public func slot(of vmID: UInt32) -> Int? { owners.firstIndex(of: vmID) }
  /// The ASID `vmID` runs with, if bound.
  public func asid(of vmID: UInt32) -> Int? { slot(of: vmID).flatMap { asids[$0] } }

  /// Binds the kernel VM to slot 0 with ASID 0.
  public mutating func bindKernel(vmID: UInt32, register: (Int) -> UInt64) {
    if owners[0] != nil, let old = asids[0] { tlb.invalidateASID(old) }
    tlb.invalidateASID(0)
    owners[0] = vmID
    asids[0] = 0
    registers[0] = register(0)
  }

  /// Binds `vmID` to a free user slot (1 and up) with a fresh ASID: invalidates the
  /// ASID, then writes the slot's register (`register(asid)`). A VM already bound
  /// keeps its slot.
  /// - Throws: ``GPUVMError/noFreeContextSlot`` or ``GPUVMError/noFreeASID``;
  ///   nothing changes then.
  @discardableResult
  public mutating func bind(vmID: UInt32, register: (Int) -> UInt64) throws(GPUVMError) -> Int {
    if let slot = slot(of: vmID) { return slot }
    guard let slot = owners.indices.dropFirst().first(where: { owners[$0] == nil }) else {
      throw .noFreeContextSlot
    }
    guard let asid = asidAllocator.allocate() else { throw .noFreeASID }
    tlb.invalidateASID(asid)
    owners[slot] = vmID
    asids[slot] = asid
    registers[slot] = register(asid)
    return slot
  }

  /// Takes `vmID` out of its slot: clears the register, invalidates its ASID and
  /// frees it. Nothing happens for a VM that is not bound.
  public mutating func unbind(vmID: UInt32) {
    guard let slot = slot(of: vmID), let asid = asids[slot] else { return }
    registers[slot] = 0
    owners[slot] = nil
    asids[slot] = nil
    tlb.invalidateASID(asid)
    if slot != 0 { asidAllocator.free(asid) }
  }
}

/// Hands out ASIDs `0..<count` (a bitmap, lowest free first).
///
/// ```swift
/// var asids = ASIDAllocator(count: 64)
/// let a = asids.allocate()   // 0
/// asids.free(a!)
/// ```
public struct ASIDAllocator: Sendable {
  var words: [UInt64]
  /// How many ASIDs there are.
  public let count: Int

  /// `count` free ASIDs.
  public init(count: Int) {
    self.count = count
    words = Array(repeating: 0, count: (count + 63) / 64)
  }

  /// The lowest free ASID, now taken; nil when all are taken.
  public mutating func allocate() -> Int? {
    for w in words.indices where words[w] != .max {
      let bit = (~words[w]).trailingZeroBitCount
      let asid = w * 64 + bit
      guard asid < count else { return nil }
      words[w] |= 1 << UInt64(bit)
      return asid
    }
    return nil
  }

  /// Gives `asid` back.
  public mutating func free(_ asid: Int) {
    precondition(isTaken(asid), "ASIDAllocator: freeing an ASID that is not taken")
    words[asid / 64] &= ~(1 << UInt64(asid % 64))
  }

  /// Whether `asid` is taken.
  public func isTaken(_ asid: Int) -> Bool { words[asid / 64] >> UInt64(asid % 64) & 1 == 1 }

  /// How many ASIDs are taken.
  public var takenCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
}
