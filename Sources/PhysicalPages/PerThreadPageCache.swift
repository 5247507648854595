import CPageMemory

#if canImport(Glibc)
  import Glibc
#endif

/// One thread's cache of free low-order blocks for one machine.
///
/// ## Invariants
/// - For each order `o` in `0...PerThreadPageCache.highestCachedOrder`,
///   `frames[offset(o) ..< offset(o) + counts[o]]` are head frame indices of blocks
///   of order `o` of `coreID`'s machine, in state `cached` with order `o`.
/// - A slot holds no reference to its machine, so a cache never keeps a machine
///   alive (and the machine object needs no weak-reference side table, which would
///   send every retain and release of it down the runtime's slow path). A slot
///   whose machine is gone (`MemoryCore.withLiveCore(id:)` finds nothing) is emptied
///   without touching anything of that machine. Machine ids are never reused.
@safe struct ThreadCacheSlot {
  /// The machine this slot serves (`MemoryCore.id`), or 0 for an unused slot.
  var coreID: UInt64
  /// The number of cached blocks of each order (`highestCachedOrder + 1` entries).
  let counts: UnsafeMutablePointer<Int>
  /// The cached blocks' head indices, one section per order (see `offset(_:)`).
  let frames: UnsafeMutablePointer<UInt32>
}

/// Per-thread caches of low-order free blocks, so the common allocate/free pair
/// takes no lock and does not split or merge buddies (the kernel's per-cpu page
/// lists, which also hold orders 0 through `PAGE_ALLOC_COSTLY_ORDER`).
///
/// The fast path reads the slot array from a C `__thread` pointer (an inline
/// function in the C header, so it compiles to one thread-local load). The process
/// has ONE pthread key (only for its thread-exit destructor) (created on first use,
/// never deleted), however many machines come and go, so keys are never exhausted.
/// Its value is a small array of ``ThreadCacheSlot``, one per machine this thread
/// recently used (at most `slotCount`; beyond that, allocations of other machines go
/// straight to the buddy). A freed block of order ≤ `highestCachedOrder` goes to
/// the freeing thread's slot (state `cached`); an allocation of that order pops from
/// it. An empty order refills `batch(order)` blocks under the buddy lock; a full one
/// returns `batch(order)` blocks. The key's destructor returns every cached block to
/// machines that are still alive when the thread exits, and an allocation that the
/// buddy cannot satisfy first returns the calling thread's cached blocks (so they
/// can coalesce) and tries again.
///
/// ```swift
/// let index = try core.allocate(order: 0, zeroed: false, site: nil)  // pops the cache
/// core.putReference(index)                                           // pushes it back
/// ```
///
/// Cached blocks are not allocated (the leak report ignores them) but not on a buddy
/// free list either: ``AllocatorStatistics`` reports them as `cachedPages`, and the
/// buddy's `pagesInUse` / high-water mark count them as in use.
@safe enum PerThreadPageCache {
  static let slotCount = 8
  /// The largest order kept in thread caches (the kernel's PAGE_ALLOC_COSTLY_ORDER).
  static let highestCachedOrder = 3
  /// The size of a slot's `frames`: the sum of `capacity(order)` over cached orders.
  static let totalCapacity = 78
  /// The most pages one thread caches for one machine (64 + 3 × 16).
  static let pageCapacity = 112

  /// The blocks of `order` a slot holds at most: 64 single pages, then 16 pages'
  /// worth of each higher order (8 order-1, 4 order-2, 2 order-3 blocks).
  @inline(__always)
  static func capacity(_ order: Int) -> Int {
    switch order {
    case 0: 64
    case 1: 8
    case 2: 4
    default: 2
    }
  }

  /// Where `order`'s section starts in a slot's `frames`.
  @inline(__always)
  static func offset(_ order: Int) -> Int {
    switch order {
    case 0: 0
    case 1: 64
    case 2: 72
    default: 76
    }
  }

  /// The blocks moved at once between a slot and the buddy: half the capacity.
  @inline(__always)
  static func batch(_ order: Int) -> Int { capacity(order) / 2 }

  /// The process-wide key. Its destructor drains the exiting thread's slots.
  static let key: pthread_key_t = {
    var key = pthread_key_t()
    let result = unsafe pthread_key_create(&key) { raw in
      guard let raw = unsafe raw else { return }
      // SAFETY: the key's values are only ever slot arrays made by `makeSlots()`,
      // and pthread hands each value to the destructor exactly once.
      unsafe PerThreadPageCache.destroy(raw.assumingMemoryBound(to: ThreadCacheSlot.self))
    }
    guard result == 0 else {
      fatalError("per-thread cache key: pthread_key_create failed \(result)")
    }
    return key
  }()

  private static func makeSlots() -> UnsafeMutablePointer<ThreadCacheSlot> {
    let slots = UnsafeMutablePointer<ThreadCacheSlot>.allocate(capacity: slotCount)
    for position in 0..<slotCount {
      let counts = UnsafeMutablePointer<Int>.allocate(capacity: highestCachedOrder + 1)
      unsafe counts.initialize(repeating: 0, count: highestCachedOrder + 1)
      let frames = UnsafeMutablePointer<UInt32>.allocate(capacity: totalCapacity)
      unsafe (slots + position).initialize(
        to: ThreadCacheSlot(coreID: 0, counts: counts, frames: frames))
    }
    unsafe pthread_setspecific(key, slots)
    unsafe cpm_set_thread_slots(slots)
    return unsafe slots
  }

  private static func destroy(_ slots: UnsafeMutablePointer<ThreadCacheSlot>) {
    cpm_set_thread_slots(nil)
    for position in 0..<slotCount {
      let slot = unsafe slots + position
      let id = unsafe slot.pointee.coreID
      if id != 0 {
        // Under the registry lock: the machine cannot finish dying meanwhile.
        MemoryCore.withLiveCore(id: id) { core in unsafe drain(slot, core: core) }
      }
      unsafe slot.pointee.counts.deallocate()
      unsafe slot.pointee.frames.deallocate()
      unsafe slot.deinitialize(count: 1)
    }
    unsafe slots.deallocate()
  }

  /// The calling thread's slot for `core`, claiming one if needed; nil when all of
  /// this thread's slots serve other live machines.
  ///
  /// The fast path is one thread-local load and one compare of the machine's id
  /// with the most recently used slot's.
  ///
  /// - Safety: the returned pointer is valid on the calling thread only, until the
  ///   thread exits; `core` must be alive.
  @unsafe @inline(__always)
  static func slot(for core: MemoryCore) -> UnsafeMutablePointer<ThreadCacheSlot>? {
    if let raw = unsafe cpm_thread_slots() {
      let slots = unsafe raw.assumingMemoryBound(to: ThreadCacheSlot.self)
      if unsafe slots.pointee.coreID == core.id { return unsafe slots }
      return unsafe claim(slots, for: core)
    }
    return unsafe claim(makeSlots(), for: core)
  }

  /// The slot for `core` in `slots`, moved to the front: its existing slot, or a free
  /// one, or one whose machine is gone (its blocks are forgotten, never touched);
  /// `nil` if every slot belongs to another live machine.
  ///
  /// - Safety: `slots` must be the calling thread's slot array; the result is valid
  ///   on the calling thread only, until the thread exits; `core` must be alive.
  @unsafe @inline(never)
  private static func claim(
    _ slots: UnsafeMutablePointer<ThreadCacheSlot>, for core: MemoryCore
  ) -> UnsafeMutablePointer<ThreadCacheSlot>? {
    var chosen: Int? = nil
    for position in 0..<slotCount where unsafe slots[position].coreID == core.id {
      chosen = position
      break
    }
    if chosen == nil {
      // A free slot, or one whose machine is gone.
      chosen = MemoryCore.withLiveIDs { isLive in
        for position in 0..<slotCount {
          let id = unsafe slots[position].coreID
          if id == 0 || !isLive(id) { return position }
        }
        return nil
      }
    }
    guard let chosen else { return nil }
    let slot = unsafe slots + chosen
    if unsafe slot.pointee.coreID != core.id {
      // A free slot, or one whose machine is gone: forget its blocks without touching them.
      unsafe slot.pointee.coreID = core.id
      unsafe slot.pointee.counts.update(repeating: 0, count: highestCachedOrder + 1)
    }
    if chosen != 0 { unsafe swap(&slots[0], &slots[chosen]) }
    return unsafe slots
  }

  /// Pops a cached block of `order` (≤ `highestCachedOrder`), refilling from the
  /// buddy if that order is empty; nil when the buddy has no such block either.
  ///
  /// - Safety: `slot` is the calling thread's slot for `core` (from `slot(for:)`).
  @unsafe @inline(__always)
  static func pop(
    _ slot: UnsafeMutablePointer<ThreadCacheSlot>, order: Int, core: MemoryCore
  ) -> Int? {
    let counts = unsafe slot.pointee.counts
    let frames = unsafe slot.pointee.frames + offset(order)
    var count = unsafe counts[order]
    if count == 0 {
      count = unsafe core.refill(frames, count: batch(order), order: order)
      if count == 0 { return nil }
    }
    count -= 1
    unsafe counts[order] = count
    return Int(unsafe frames[count])
  }

  /// Pushes a freed block of `order` (already marked cached), returning a batch to
  /// the buddy if that order is full.
  ///
  /// - Safety: `slot` is the calling thread's slot for `core` (from `slot(for:)`).
  @unsafe @inline(__always)
  static func push(
    _ index: Int, order: Int, _ slot: UnsafeMutablePointer<ThreadCacheSlot>, core: MemoryCore
  ) {
    let counts = unsafe slot.pointee.counts
    let frames = unsafe slot.pointee.frames + offset(order)
    var count = unsafe counts[order]
    if count == capacity(order) {
      let batch = batch(order)
      unsafe core.drain(frames + (count - batch), count: batch, order: order)
      count -= batch
    }
    unsafe frames[count] = UInt32(index)
    unsafe counts[order] = count + 1
  }

  /// Returns every block `slot` caches to `core`'s buddy.
  ///
  /// - Safety: `slot` belongs to the calling thread (or to an exiting thread's
  ///   destructor) and serves `core`.
  @unsafe
  private static func drain(_ slot: UnsafeMutablePointer<ThreadCacheSlot>, core: MemoryCore) {
    for order in 0...highestCachedOrder {
      let count = unsafe slot.pointee.counts[order]
      if count > 0 {
        unsafe core.drain(slot.pointee.frames + offset(order), count: count, order: order)
        unsafe slot.pointee.counts[order] = 0
      }
    }
  }

  /// Returns every block the calling thread caches for `core` to the buddy.
  static func drainCurrentThread(_ core: MemoryCore) {
    guard let raw = unsafe cpm_thread_slots() else { return }
    let slots = unsafe raw.assumingMemoryBound(to: ThreadCacheSlot.self)
    for position in 0..<slotCount {
      let slot = unsafe slots + position
      if unsafe slot.pointee.coreID == core.id {
        unsafe drain(slot, core: core)
      }
    }
  }
}
