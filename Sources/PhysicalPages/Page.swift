import Synchronization

/// An owned, naturally aligned block of 2^order pages of a ``PhysicalMemory``: the
/// kernel's `Owned<Page>`.
///
/// `Page` is `~Copyable`: exactly one value owns each reference. Dropping it drops
/// the reference (put_page) and frees the block when that was the last one. Share it
/// with ``SharedPage``; hand it to hardware with ``intoPhysicalAddress()`` and take
/// it back with ``init(fromPhysicalAddress:in:)``.
///
/// ```swift
/// let page = try memory.allocatePage(zeroed: true)
/// try page.write([0xde, 0xad], at: 16)
/// print(page.physicalAddress, page.frameNumber, page.byteCount)
/// ```
///
/// ## Invariants
/// - `index` is the head of an allocated block of order `order` of `core`'s machine,
///   and this value owns one of its references (borrowed values own none and are
///   never dropped, see `forget()`).
/// - `core` outlives the value: the machine keeps its mappings alive while any block
///   is allocated (see ``PhysicalMemory``'s Lifetime section).
public struct Page: ~Copyable, @unchecked Sendable {
  unowned(unsafe) let core: MemoryCore
  let index: Int
  /// The block's order: it covers 2^order pages.
  public let order: Int

  init(core: MemoryCore, index: Int, order: Int) {
    unsafe self.core = core
    self.index = index
    self.order = order
  }

  deinit {
    withCore { $0.putReference(index) }
  }

  /// Runs `body` on the machine without retaining or releasing it: this value's
  /// reference keeps the block, and so the machine's mappings, alive for the call
  /// (see `core`'s invariant). The machine object has a side table (thread caches
  /// refer to it weakly), so every retain would take the runtime's slow path.
  @inline(__always)
  func withCore<R>(_ body: (MemoryCore) -> R) -> R {
    // SAFETY: `core` outlives this value (invariant), so it is alive for the call.
    unsafe Unmanaged.passUnretained(core)._withUnsafeGuaranteedRef(body)
  }

  /// Ends this value without dropping its reference (for borrowed and handed-out pages).
  consuming func forget() {
    discard self
  }

  /// The physical address of the block's first byte.
  public var physicalAddress: PhysicalAddress { withCore { $0.physicalAddress(index) } }

  /// The page frame number (`physicalAddress / pageSize`) of the block's first page.
  public var frameNumber: UInt64 { unsafe core.frameNumber(index) }

  /// The block's size in bytes (`pageSize << order`).
  public var byteCount: Int { unsafe core.pageSize << order }

  /// The number of owners of the block right now (Page values and SharedPage boxes).
  public var referenceCount: Int {
    Int(unsafe core.descriptor(index).pointee.referenceCount.load(ordering: .relaxed))
  }

  /// Gives up ownership without freeing, returning the physical address (like
  /// `into_raw`). The block is marked "handed out" and stays allocated until
  /// ``init(fromPhysicalAddress:in:)`` takes it back.
  public consuming func intoPhysicalAddress() -> PhysicalAddress {
    let index = self.index
    let address = withCore { core in
      _ = unsafe core.descriptor(index).pointee.flags.bitwiseOr(
        DescriptorFlags.handedOutBit, ordering: .relaxed)
      return core.physicalAddress(index)
    }
    forget()
    return address
  }

  /// Takes back ownership of a block given out by ``intoPhysicalAddress()``
  /// (like `from_raw`). Checked: exactly once per hand-out, else
  /// ``PageError/notHandedOut(frame:)``; also RAM, alignment and allocation.
  ///
  /// - Safety: the caller must be the one party entitled to the reference handed out
  ///   with `address`: hardware or other code may still use the address as long as
  ///   it does not access the block after this `Page` frees it.
  @unsafe
  public init(fromPhysicalAddress address: PhysicalAddress, in memory: PhysicalMemory)
    throws(PageError)
  {
    let core = memory.core
    let index = try core.index(of: address)
    let flags = core.flags(index)
    guard flags.state == .allocated else {
      throw .pageNotAllocated(frame: core.frameNumber(index))
    }
    let old = unsafe core.descriptor(index).pointee.flags.bitwiseAnd(
      ~DescriptorFlags.handedOutBit, ordering: .relaxed
    ).oldValue
    guard DescriptorFlags(rawValue: old).isHandedOut else {
      throw .notHandedOut(frame: core.frameNumber(index))
    }
    self.init(core: core, index: index, order: flags.order)
  }

  /// Takes back ownership of a block given out by ``intoPhysicalAddress()`` without
  /// any check.
  ///
  /// - Safety: `address` must have come from `intoPhysicalAddress()` on `memory`, and
  ///   must be taken back exactly once (a second owner double-frees the block).
  @unsafe
  public init(uncheckedFromPhysicalAddress address: PhysicalAddress, in memory: PhysicalMemory) {
    let core = memory.core
    let index = Int(
      (address.rawValue - core.configuration.baseAddress.rawValue) >> UInt64(core.pageShift))
    let old = unsafe core.descriptor(index).pointee.flags.bitwiseAnd(
      ~DescriptorFlags.handedOutBit, ordering: .relaxed
    ).oldValue
    self.init(core: core, index: index, order: DescriptorFlags(rawValue: old).order)
  }
}
