import CPageMemory

#if canImport(Glibc)
  import Glibc
#endif

/// One thread's cache of free order-0 pages for one machine.
///
/// ## Invariants
/// - `frames[0..<count]` are frame indices of `coreID`'s machine in state `cached`.
/// - `core` is weak: a cache never keeps a machine alive, and a slot whose machine
///   is gone (`core == nil`) is emptied without touching anything of that machine.
@safe struct ThreadCacheSlot {
  var coreID: UInt64
  var count: Int
  let frames: UnsafeMutablePointer<UInt32>
  weak var core: MemoryCore?
}

/// Per-thread caches of order-0 pages, so the common allocate/free pair takes no lock.
///
/// The fast path reads the slot array from a C `__thread` pointer. The process has
/// ONE pthread key (only for its thread-exit destructor) (created on first use, never deleted), however many
/// machines come and go, so keys are never exhausted. Its value is a small array of
/// ``ThreadCacheSlot``, one per machine this thread recently used (at most
/// `slotCount`; beyond that, allocations of other machines go straight to the buddy).
/// A freed order-0 page goes to the freeing thread's slot (state `cached`); an
/// allocation pops from it. An empty slot refills `batch` pages under the buddy lock;
/// a full one returns `batch` pages. The key's destructor returns every cached page
/// to machines that are still alive when the thread exits.
///
/// ```swift
/// let index = try core.allocate(order: 0, zeroed: false, site: nil)  // pops the cache
/// core.putReference(index)                                           // pushes it back
/// ```
///
/// Cached pages are not allocated (the leak report ignores them) but not on a buddy
/// free list either: ``AllocatorStatistics`` reports them as `cachedPages`, and the
/// buddy's `pagesInUse` / high-water mark count them as in use.
@safe enum PerThreadPageCache {
  static let slotCount = 8
  static let capacity = 64
  static let batch = 32

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
      let frames = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
      unsafe (slots + position).initialize(
        to: ThreadCacheSlot(coreID: 0, count: 0, frames: frames, core: nil))
    }
    unsafe pthread_setspecific(key, slots)
    unsafe cpm_set_thread_slots(slots)
    return unsafe slots
  }

  private static func destroy(_ slots: UnsafeMutablePointer<ThreadCacheSlot>) {
    unsafe cpm_set_thread_slots(nil)
    for position in 0..<slotCount {
      let slot = unsafe slots + position
      if unsafe slot.pointee.count > 0, let core = unsafe slot.pointee.core {
        unsafe core.drain(slot.pointee.frames, count: slot.pointee.count)
      }
      unsafe slot.pointee.frames.deallocate()
      unsafe slot.deinitialize(count: 1)
    }
    unsafe slots.deallocate()
  }

  /// The calling thread's slot for `core`, claiming one if needed; nil when all of
  /// this thread's slots serve other live machines.
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

  @unsafe
  private static func claim(
    _ slots: UnsafeMutablePointer<ThreadCacheSlot>, for core: MemoryCore
  ) -> UnsafeMutablePointer<ThreadCacheSlot>? {
    var chosen: Int? = nil
    for position in 0..<slotCount {
      let slot = unsafe slots + position
      if unsafe slot.pointee.coreID == core.id {
        chosen = position
        break
      }
      if unsafe chosen == nil && (slot.pointee.coreID == 0 || slot.pointee.core == nil) {
        chosen = position
      }
    }
    guard let chosen else { return nil }
    let slot = unsafe slots + chosen
    if unsafe slot.pointee.coreID != core.id {
      // A free slot, or one whose machine is gone: forget its pages without touching them.
      unsafe slot.pointee.coreID = core.id
      unsafe slot.pointee.count = 0
      unsafe slot.pointee.core = core
    }
    if chosen != 0 { unsafe swap(&slots[0], &slots[chosen]) }
    return unsafe slots
  }

  /// Pops a cached page, refilling from the buddy if empty; nil when RAM is full.
  @unsafe @inline(__always)
  static func pop(_ slot: UnsafeMutablePointer<ThreadCacheSlot>, core: MemoryCore) -> Int? {
    if unsafe slot.pointee.count == 0 {
      unsafe slot.pointee.count = core.refill(slot.pointee.frames, count: batch)
      if unsafe slot.pointee.count == 0 { return nil }
    }
    unsafe slot.pointee.count -= 1
    return Int(unsafe slot.pointee.frames[slot.pointee.count])
  }

  /// Pushes a freed page (already marked cached), returning a batch to the buddy if full.
  @unsafe @inline(__always)
  static func push(_ index: Int, _ slot: UnsafeMutablePointer<ThreadCacheSlot>, core: MemoryCore) {
    if unsafe slot.pointee.count == capacity {
      unsafe core.drain(slot.pointee.frames + (capacity - batch), count: batch)
      unsafe slot.pointee.count -= batch
    }
    unsafe slot.pointee.frames[slot.pointee.count] = UInt32(index)
    unsafe slot.pointee.count += 1
  }

  /// Returns every page the calling thread caches for `core` to the buddy.
  static func drainCurrentThread(_ core: MemoryCore) {
    guard let raw = unsafe cpm_thread_slots() else { return }
    let slots = unsafe raw.assumingMemoryBound(to: ThreadCacheSlot.self)
    for position in 0..<slotCount {
      let slot = unsafe slots + position
      if unsafe slot.pointee.coreID == core.id && slot.pointee.count > 0 {
        unsafe core.drain(slot.pointee.frames, count: slot.pointee.count)
        unsafe slot.pointee.count = 0
      }
    }
  }
}
