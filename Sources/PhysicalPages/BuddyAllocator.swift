import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The binary buddy allocator behind ``PhysicalMemory``: free lists of naturally
/// aligned blocks of 2^order frames, order 0 through ``PhysicalMemory/maxOrder``.
///
/// It lives inside the machine's `Mutex`; the per-thread caches in front of it make
/// the common order-0 allocation lock-free. Free lists are intrusive: a free block's
/// head descriptor holds the list links in its private word.
///
/// Creation is O(1): nothing is put on a free list up front. A *frontier* separates
/// frames that were ever handed to the free lists from never-used frames above it;
/// when no free block is big enough, blocks of the largest order that fits are carved
/// from the frontier.
///
/// ```swift
/// var buddy = BuddyAllocator(descriptors: d, frameCount: 16384, poisonBase: nil, pageSize: 4096)
/// let head = buddy.allocate(order: 2, as: .allocated)  // splits a carved order-10 block
/// buddy.free(head!, order: 2)                          // coalesces back to order 10
/// ```
///
/// ## Invariants
/// - Each free list `heads[o]` links exactly the `free` heads of order `o`, and
///   `freeBlockCounts[o]` is its length.
/// - Two free buddies of the same order never both sit on a free list (they merge).
/// - `frontier` only grows, and every frame below it belongs to exactly one block.
/// - `pagesInUse` = frames below the frontier not on a free list (allocated, cached
///   or quarantined); `highWaterMark` is its maximum so far.
@safe struct BuddyAllocator {
  // SAFETY: `descriptors` covers `frameCount` descriptors and outlives this value
  // (both are owned by the same `MemoryCore`).
  let descriptors: UnsafeMutablePointer<PageDescriptor>
  let frameCount: Int
  /// The direct map when freed blocks are poisoned (carved blocks get poisoned too).
  let poisonBase: UnsafeMutableRawPointer?
  let pageSize: Int
  var heads: [UInt32]
  var freeBlockCounts: [Int]
  private(set) var frontier = 0
  private(set) var pagesInUse = 0
  private(set) var highWaterMark = 0

  /// The byte written over freed blocks when poisoning is on (the kernel's POISON_FREE).
  static let poisonByte: UInt8 = 0x6b

  init(
    descriptors: UnsafeMutablePointer<PageDescriptor>, frameCount: Int,
    poisonBase: UnsafeMutableRawPointer?, pageSize: Int
  ) {
    unsafe self.descriptors = descriptors
    self.frameCount = frameCount
    unsafe self.poisonBase = poisonBase
    self.pageSize = pageSize
    heads = Array(repeating: FreeListLinks.none, count: PhysicalMemory.maxOrder + 1)
    freeBlockCounts = Array(repeating: 0, count: PhysicalMemory.maxOrder + 1)
  }

  // MARK: Descriptor access

  func flags(_ index: Int) -> DescriptorFlags {
    DescriptorFlags(rawValue: unsafe descriptors[index].flags.load(ordering: .relaxed))
  }

  func setFlags(_ index: Int, _ flags: DescriptorFlags) {
    unsafe descriptors[index].flags.store(flags.rawValue, ordering: .relaxed)
  }

  private func links(_ index: Int) -> FreeListLinks {
    FreeListLinks(word: unsafe descriptors[index].privateWord.load(ordering: .relaxed))
  }

  private func setLinks(_ index: Int, _ links: FreeListLinks) {
    unsafe descriptors[index].privateWord.store(links.word, ordering: .relaxed)
  }

  // MARK: Free lists

  private mutating func push(_ index: Int, order: Int) {
    setFlags(index, DescriptorFlags(state: .free, order: order))
    let old = heads[order]
    setLinks(index, FreeListLinks(previous: FreeListLinks.none, next: old))
    if old != FreeListLinks.none {
      var oldLinks = links(Int(old))
      oldLinks.previous = UInt32(index)
      setLinks(Int(old), oldLinks)
    }
    heads[order] = UInt32(index)
    freeBlockCounts[order] += 1
  }

  private mutating func remove(_ index: Int, order: Int) {
    let entry = links(index)
    if entry.previous == FreeListLinks.none {
      guard heads[order] == UInt32(index) else {
        fatalError("buddy free list linked: frame index \(index) is not the head of order \(order)")
      }
      heads[order] = entry.next
    } else {
      var previous = links(Int(entry.previous))
      previous.next = entry.next
      setLinks(Int(entry.previous), previous)
    }
    if entry.next != FreeListLinks.none {
      var next = links(Int(entry.next))
      next.previous = entry.previous
      setLinks(Int(entry.next), next)
    }
    setLinks(index, FreeListLinks(previous: 0, next: 0))
    freeBlockCounts[order] -= 1
  }

  /// Moves never-used frames from the frontier onto the free lists until a block of
  /// at least `order` is free or the frontier reaches the end of RAM.
  private mutating func carve(atLeast order: Int) -> Bool {
    while frontier < frameCount {
      var carved = PhysicalMemory.maxOrder
      while carved > 0 && (frontier % (1 << carved) != 0 || frontier + (1 << carved) > frameCount) {
        carved -= 1
      }
      if let poisonBase = unsafe poisonBase {
        // SAFETY: the carved frames lie inside the direct map and nobody owns them.
        unsafe memset(
          poisonBase + frontier * pageSize, Int32(Self.poisonByte), (1 << carved) * pageSize)
      }
      push(frontier, order: carved)
      frontier += 1 << carved
      if carved >= order { return true }
    }
    return false
  }

  // MARK: Allocation

  /// Takes a block of 2^order frames off the free lists, splitting a larger one if
  /// needed, and marks its head `state` (allocated or cached). Nil when RAM is full.
  mutating func allocate(order: Int, as state: PageState) -> Int? {
    var found = order
    while found <= PhysicalMemory.maxOrder && heads[found] == FreeListLinks.none { found += 1 }
    if found > PhysicalMemory.maxOrder {
      guard carve(atLeast: order) else { return nil }
      found = order
      while heads[found] == FreeListLinks.none { found += 1 }
    }
    let index = Int(heads[found])
    remove(index, order: found)
    while found > order {
      found -= 1
      push(index + (1 << found), order: found)
    }
    setFlags(index, DescriptorFlags(state: state, order: order))
    pagesInUse += 1 << order
    highWaterMark = max(highWaterMark, pagesInUse)
    return index
  }

  /// Returns a block (whose head the caller has checked is allocated or cached) to
  /// the free lists, merging it with free buddies.
  mutating func free(_ index: Int, order: Int) {
    pagesInUse -= 1 << order
    var index = index
    var order = order
    while order < PhysicalMemory.maxOrder {
      let buddy = index ^ (1 << order)
      guard buddy + (1 << order) <= frontier else { break }
      let buddyFlags = flags(buddy)
      guard buddyFlags.state == .free, buddyFlags.order == order else { break }
      remove(buddy, order: order)
      setFlags(max(index, buddy), DescriptorFlags(state: .tail, order: 0))
      index = min(index, buddy)
      order += 1
    }
    push(index, order: order)
  }

  /// Withdraws an allocated block from use for good (it stays counted in use).
  func quarantine(_ index: Int, order: Int) {
    setFlags(index, DescriptorFlags(state: .quarantined, order: order))
  }
}
