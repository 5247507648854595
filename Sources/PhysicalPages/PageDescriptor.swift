import Synchronization

/// The per-page descriptor: the machine's `struct page`, 16 bytes per frame.
///
/// Descriptors live in one anonymous `MAP_NORESERVE` mapping that is committed only
/// where touched, so a machine's descriptor array costs nothing until its pages
/// are used. Untouched memory reads as zero, which is a valid descriptor: state
/// ``PageState/tail``, reference count 0.
///
/// ```
/// offset 0  referenceCount  Atomic<UInt32>   owners of an allocated block (on its head)
/// offset 4  flags           Atomic<UInt32>   state | order << 8 | handedOut << 16
/// offset 8  privateWord     Atomic<UInt64>   free: buddy links; allocated: the owner's word
/// ```
///
/// ## Invariants
/// - Every frame below the buddy frontier is either the head of exactly one block
///   (state `free`, `cached`, `allocated` or `quarantined`, with that block's order)
///   or an interior frame of one (`tail`). Frames at or above the frontier are `tail`.
/// - An `allocated` head has a reference count ≥ 1; every other state has 0.
/// - `cached` blocks are order 0 and sit in exactly one thread's cache.
@usableFromInline
struct PageDescriptor: ~Copyable {
  /// How many owners (``Page`` values and ``SharedPage`` boxes) the block has.
  let referenceCount: Atomic<UInt32>
  /// The packed ``DescriptorFlags``.
  let flags: Atomic<UInt32>
  /// Free: the buddy free-list links. Allocated: owned by the page's user.
  let privateWord: Atomic<UInt64>

  /// The byte offset of `privateWord` (`MemoryLayout.offset(of:)` needs a Copyable type).
  @usableFromInline static let privateWordOffset = 8
}

/// What a descriptor's frame is currently doing.
enum PageState: UInt32, Sendable {
  /// An interior frame of a block, or a frame past the frontier (never used).
  case tail = 0
  /// The head of a free block on a buddy free list.
  case free = 1
  /// An order-0 page in some thread's per-thread cache.
  case cached = 2
  /// The head of an allocated block.
  case allocated = 3
  /// The head of a block withdrawn from use because it was modified after free.
  case quarantined = 4
}

/// The decoded flags word of a ``PageDescriptor``.
struct DescriptorFlags: Equatable, Sendable {
  var rawValue: UInt32

  static let handedOutBit: UInt32 = 1 << 16

  init(rawValue: UInt32) {
    self.rawValue = rawValue
  }

  init(state: PageState, order: Int, handedOut: Bool = false) {
    rawValue = state.rawValue | UInt32(order) << 8 | (handedOut ? Self.handedOutBit : 0)
  }

  @inline(__always)
  var state: PageState {
    guard let state = PageState(rawValue: rawValue & 0xff) else { Self.invalid(rawValue) }
    return state
  }

  @inline(never)
  private static func invalid(_ rawValue: UInt32) -> Never {
    fatalError("descriptor flags valid: unknown state in \(rawValue)")
  }

  @inline(__always)
  var order: Int { Int((rawValue &>> 8) & 0xff) }

  var isHandedOut: Bool { rawValue & Self.handedOutBit != 0 }
}

/// Free-list links packed into a free block's private word: `prev << 32 | next`.
struct FreeListLinks {
  static let none = UInt32.max
  var previous: UInt32
  var next: UInt32

  init(previous: UInt32, next: UInt32) {
    self.previous = previous
    self.next = next
  }

  init(word: UInt64) {
    previous = UInt32(truncatingIfNeeded: word >> 32)
    next = UInt32(truncatingIfNeeded: word)
  }

  var word: UInt64 { UInt64(previous) << 32 | UInt64(next) }
}
