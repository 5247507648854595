import CPageMemory
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The machine's mappings and allocator state, shared by ``PhysicalMemory`` and
/// every ``Page``.
///
/// `PhysicalMemory` is the public handle; this object owns the memfd, the direct map,
/// the descriptor array, the buddy allocator and the vmalloc area. Pages refer to it
/// with `unowned(unsafe)` (so they stay trivially destructible); it is therefore
/// kept alive for good when the handle goes away while blocks are still allocated
/// (see ``PhysicalMemory``'s deinit), which keeps every surviving page valid.
///
/// ## Invariants
/// - `directMap` maps the whole memfd (`frameCount * pageSize` bytes) shared, and
///   `descriptors` covers `frameCount` descriptors, for this object's lifetime.
/// - `id` is unique in the process; per-thread caches key their slots by it.
@safe @usableFromInline final class MemoryCore: @unchecked Sendable {
  let id: UInt64
  let configuration: PhysicalMemory.Configuration
  let pageSize: Int
  @usableFromInline let pageShift: Int
  let frameCount: Int
  @usableFromInline let baseFrame: UInt64
  let fd: Int32
  @usableFromInline let directMap: UnsafeMutableRawPointer
  @usableFromInline let descriptors: UnsafeMutablePointer<PageDescriptor>
  let descriptorByteCount: Int
  let poison: Bool
  let recordSites: Bool
  let buddy: Mutex<BuddyAllocator>
  let sites: Mutex<[Int: AllocationSite]>
  let vmalloc: Mutex<VmallocArea>
  /// Decides which allocations fail on purpose (``PhysicalMemory/injectFaults(_:)``).
  let faults = FaultInjector()
  /// Who is told of frees (``PhysicalMemory/setFreeObserver(_:)``).
  let freeObserver = FreeObserverSlot()

  private static let nextID = Atomic<UInt64>(1)
  /// The machines alive right now, by id, held without a reference (a core removes
  /// itself first thing in its deinit). Per-thread caches look their machine up here
  /// instead of holding a weak reference (see ``ThreadCacheSlot``).
  private static let live = Mutex<[UInt64: UnretainedCore]>([:])
  /// Cores kept alive because pages outlived their `PhysicalMemory` (see its deinit).
  private static let keptAlive = Mutex<[MemoryCore]>([])

  init(configuration: PhysicalMemory.Configuration) throws(PageError) {
    try configuration.validate()
    self.configuration = configuration
    id = Self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    pageSize = configuration.pageSize
    pageShift = configuration.pageSize.trailingZeroBitCount
    frameCount = configuration.byteCount / configuration.pageSize
    baseFrame = configuration.baseAddress.rawValue >> UInt64(pageShift)
    poison = configuration.poisonFreedPages
    recordSites = configuration.recordAllocationSites

    let fd = unsafe cpm_memfd_create("PhysicalMemory")
    guard fd >= 0 else { throw .systemCallFailed("memfd_create", errno: cpm_errno()) }
    guard cpm_ftruncate(fd, Int64(configuration.byteCount)) == 0 else {
      let error = cpm_errno()
      _ = cpm_close(fd)
      throw .systemCallFailed("ftruncate", errno: error)
    }
    guard let directMap = unsafe cpm_map_shared(fd, configuration.byteCount, 0) else {
      let error = cpm_errno()
      _ = cpm_close(fd)
      throw .systemCallFailed("mmap(direct map)", errno: error)
    }
    let host = cpm_host_page_size()
    let descriptorBytes =
      (frameCount * MemoryLayout<PageDescriptor>.stride + host - 1) / host * host
    guard let rawDescriptors = unsafe cpm_map_anonymous_noreserve(descriptorBytes) else {
      let error = cpm_errno()
      _ = unsafe cpm_unmap(directMap, configuration.byteCount)
      _ = cpm_close(fd)
      throw .systemCallFailed("mmap(descriptors)", errno: error)
    }
    self.fd = fd
    unsafe self.directMap = directMap
    descriptorByteCount = descriptorBytes
    // SAFETY: fresh anonymous memory reads as zero, which is a valid value of every
    // field of `PageDescriptor` (three atomics); binding does not touch it.
    let descriptors = unsafe rawDescriptors.bindMemory(
      to: PageDescriptor.self, capacity: frameCount)
    unsafe self.descriptors = descriptors
    buddy = Mutex(
      unsafe BuddyAllocator(
        descriptors: descriptors, frameCount: frameCount,
        poisonBase: configuration.poisonFreedPages ? directMap : nil,
        pageSize: configuration.pageSize))
    sites = Mutex([:])
    vmalloc = Mutex(
      VmallocArea(byteCount: configuration.vmallocAreaByteCount, pageSize: configuration.pageSize))
    let id = id
    let entry = UnretainedCore(self)
    Self.live.withAnnotatedLock { $0[id] = entry }
  }

  deinit {
    // First: once this returns no thread can find the machine, and a thread that
    // found it earlier has finished with it (it held the lock while using it).
    let id = id
    _ = Self.live.withAnnotatedLock { $0.removeValue(forKey: id) }
    vmalloc.withAnnotatedLock { area in area.releaseReservation() }
    _ = unsafe cpm_unmap(UnsafeMutableRawPointer(descriptors), descriptorByteCount)
    _ = unsafe cpm_unmap(directMap, configuration.byteCount)
    _ = cpm_close(fd)
  }

  /// Runs `body` on the machine `id` if it is still alive, holding the registry lock
  /// (so the machine cannot finish its deinit meanwhile). `body` must not take the
  /// last reference to any machine.
  static func withLiveCore(id: UInt64, _ body: (MemoryCore) -> Void) {
    live.withAnnotatedLock { live in
      guard let entry = live[id] else { return }
      // SAFETY: a registered core has not passed the start of its deinit, which
      // waits for this lock; so it is valid for the whole call. No retain: it may
      // already be waiting in its deinit.
      unsafe Unmanaged.passUnretained(entry.core)._withUnsafeGuaranteedRef(body)
    }
  }

  /// Runs `body` with a test for whether a machine id is alive, under the registry lock.
  static func withLiveIDs<R>(_ body: ((UInt64) -> Bool) -> R) -> R {
    live.withAnnotatedLock { live in
      body { live[$0] != nil }
    }
  }

  /// Keeps `core` alive until the process exits.
  static func keepAlive(_ core: MemoryCore) {
    keptAlive.withAnnotatedLock { $0.append(core) }
  }

  // MARK: Descriptors and addresses

  /// The descriptor of frame `index` (0-based from the start of RAM).
  @inline(__always)
  func descriptor(_ index: Int) -> UnsafeMutablePointer<PageDescriptor> {
    unsafe descriptors + index
  }

  @inline(__always)
  func flags(_ index: Int) -> DescriptorFlags {
    DescriptorFlags(rawValue: unsafe descriptors[index].flags.load(ordering: .relaxed))
  }

  @inline(__always)
  func setFlags(_ index: Int, _ flags: DescriptorFlags) {
    unsafe descriptors[index].flags.store(flags.rawValue, ordering: .relaxed)
  }

  /// The page frame number (`address / pageSize`) of frame `index`.
  @inline(__always)
  func frameNumber(_ index: Int) -> UInt64 { baseFrame + UInt64(index) }

  @inline(__always)
  func physicalAddress(_ index: Int) -> PhysicalAddress {
    PhysicalAddress(frameNumber(index) << UInt64(pageShift))
  }

  /// The direct-map address of frame `index`.
  @inline(__always)
  func directMapAddress(_ index: Int) -> UnsafeMutableRawPointer {
    unsafe directMap + (index << pageShift)
  }

  /// The frame index of a RAM address, without any check (inlinable, for the
  /// unchecked hot-path accessors of ``PhysicalMemory``).
  @inlinable @inline(__always)
  func uncheckedIndex(of address: PhysicalAddress) -> Int {
    Int(
      truncatingIfNeeded: (address.rawValue &>> UInt64(truncatingIfNeeded: pageShift)) &- baseFrame)
  }

  /// The frame index of a physical address: checked for RAM and page alignment.
  func index(of address: PhysicalAddress) throws(PageError) -> Int {
    let base = configuration.baseAddress.rawValue
    guard address.rawValue >= base, address.rawValue - base < UInt64(configuration.byteCount)
    else { throw .addressOutsideRAM(address) }
    guard address.rawValue & UInt64(pageSize - 1) == 0 else { throw .misalignedAddress(address) }
    return Int((address.rawValue - base) >> UInt64(pageShift))
  }

  /// The head of the allocated block containing frame `index`, with its order, or nil.
  func allocatedBlock(containing index: Int) -> (head: Int, order: Int)? {
    for order in 0...PhysicalMemory.maxOrder {
      let head = index & ~((1 << order) - 1)
      let flags = flags(head)
      if flags.state != .tail {
        guard flags.state == .allocated, flags.order >= order else { return nil }
        return (head, flags.order)
      }
    }
    return nil
  }

  // MARK: Allocation

  /// Allocates a block and returns its head index with one reference.
  ///
  /// Orders up to ``PerThreadPageCache/highestCachedOrder`` come from the calling
  /// thread's cache (no lock, no split); larger ones, and a cache the buddy cannot
  /// refill, take the buddy lock. `injectable: false` exempts the allocation from
  /// fault injection (for internal allocations whose failure changes nothing).
  @inline(__always)
  func allocate(
    order: Int, zeroed: Bool, site: AllocationSite?, injectable: Bool = true
  ) throws(PageError) -> Int {
    guard order >= 0 && order <= PhysicalMemory.maxOrder else { throw .invalidOrder(order) }
    if injectable && faults.shouldFail() { throw .outOfMemory(order: order) }
    let index: Int
    if order <= PerThreadPageCache.highestCachedOrder,
      let slot = unsafe PerThreadPageCache.slot(for: self),
      let cached = unsafe PerThreadPageCache.pop(slot, order: order, core: self)
    {
      index = cached
    } else {
      index = try allocateFromBuddy(order: order)
    }
    if poison { try checkPoison(index, order: order) }
    let descriptor = unsafe descriptor(index)
    // The block is exclusively ours: nobody else may touch its descriptor until it
    // is published through the returned `Page`, so relaxed stores suffice.
    unsafe descriptor.pointee.privateWord.store(0, ordering: .relaxed)
    unsafe descriptor.pointee.flags.store(
      DescriptorFlags(state: .allocated, order: order).rawValue, ordering: .relaxed)
    unsafe descriptor.pointee.referenceCount.store(1, ordering: .relaxed)
    if zeroed {
      // SAFETY: the block was just taken from the allocator; nobody else uses its bytes.
      unsafe memset(directMapAddress(index), 0, pageSize << order)
    }
    if recordSites, let site { recordSite(site, for: index) }
    return index
  }

  /// Takes a block from the buddy; when it has none, returns the calling thread's
  /// cached blocks (so they can coalesce) and tries once more.
  @inline(never)
  func allocateFromBuddy(order: Int) throws(PageError) -> Int {
    if let index = buddy.withAnnotatedLock({ $0.allocate(order: order, as: .allocated) }) {
      return index
    }
    PerThreadPageCache.drainCurrentThread(self)
    if let index = buddy.withAnnotatedLock({ $0.allocate(order: order, as: .allocated) }) {
      return index
    }
    throw .outOfMemory(order: order)
  }

  @inline(never)
  private func recordSite(_ site: AllocationSite, for index: Int) {
    sites.withAnnotatedLock { $0[index] = site }
  }

  /// Verifies the poison of a block about to be handed out; quarantines it if broken.
  private func checkPoison(_ index: Int, order: Int) throws(PageError) {
    let byteCount = pageSize << order
    // SAFETY: the block is ours (just taken from the allocator) and inside the direct map.
    let bytes = unsafe UnsafeRawBufferPointer(start: directMapAddress(index), count: byteCount)
    let word = UInt64(BuddyAllocator.poisonByte) * 0x0101_0101_0101_0101
    var offset = 0
    while offset < byteCount {
      if unsafe bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != word {
        while unsafe bytes[offset] == BuddyAllocator.poisonByte { offset += 1 }
        buddy.withAnnotatedLock { $0.quarantine(index, order: order) }
        throw .poisonOverwritten(frame: frameNumber(index), offset: offset)
      }
      offset += 8
    }
  }

  /// Adds a reference to the allocated block headed by `index` (get_page).
  @inline(__always)
  func getReference(_ index: Int) {
    let old = unsafe descriptor(index).pointee.referenceCount.wrappingAdd(
      1, ordering: .relaxed
    ).oldValue
    if old == 0 { referenceCountTrap("reference count positive: get_page on a free page", index) }
  }

  /// Drops a reference to the block headed by `index` (put_page); frees it at zero.
  @inline(__always)
  func putReference(_ index: Int) {
    let descriptor = unsafe descriptor(index)
    // Fast path: the caller holds the only reference, so no other owner can race
    // with this update (taking a new reference requires holding or borrowing one).
    if unsafe descriptor.pointee.referenceCount.load(ordering: .acquiring) == 1 {
      unsafe descriptor.pointee.referenceCount.store(0, ordering: .relaxed)
      release(index)
      return
    }
    let old = unsafe descriptor.pointee.referenceCount.wrappingSubtract(
      1, ordering: .acquiringAndReleasing
    ).oldValue
    if old == 1 {
      release(index)
    } else if old == 0 {
      referenceCountTrap("reference count underflow: put_page on", index)
    }
  }

  @inline(never)
  private func referenceCountTrap(_ message: StaticString, _ index: Int) -> Never {
    fatalError("\(message) \(describe(index))")
  }

  /// Frees the allocated block headed by `index` (its reference count reached zero).
  ///
  /// Orders up to ``PerThreadPageCache/highestCachedOrder`` go to the calling
  /// thread's cache (no lock, no merge); larger ones go back to the buddy.
  @inline(__always)
  func release(_ index: Int) {
    let flags = flags(index)
    guard flags.state == .allocated else { doubleFree(index) }
    let order = flags.order
    freeObserver.notify(physicalAddress(index), byteCount: pageSize << order)
    if poison {
      // SAFETY: the last reference is gone; nobody may access the block any more.
      unsafe memset(directMapAddress(index), Int32(BuddyAllocator.poisonByte), pageSize << order)
    }
    if recordSites { forgetSite(of: index) }
    if order <= PerThreadPageCache.highestCachedOrder,
      let slot = unsafe PerThreadPageCache.slot(for: self)
    {
      setFlags(index, DescriptorFlags(state: .cached, order: order))
      unsafe PerThreadPageCache.push(index, order: order, slot, core: self)
    } else {
      buddy.withAnnotatedLock { $0.free(index, order: order) }
    }
  }

  @inline(never)
  private func forgetSite(of index: Int) {
    _ = sites.withAnnotatedLock { $0.removeValue(forKey: index) }
  }

  @inline(never)
  private func doubleFree(_ index: Int) -> Never {
    fatalError("double free: \(describe(index)) is not allocated")
  }

  /// A description of frame `index` for trap messages: frame number, address, state.
  func describe(_ index: Int) -> String {
    let flags = flags(index)
    return
      "\(frameDescription(frameNumber(index))) (\(physicalAddress(index))), state \(flags.state)"
  }

  // MARK: Thread caches

  /// Takes up to `count` blocks of `order` from the buddy into `buffer`, marked cached.
  @inline(never)
  func refill(_ buffer: UnsafeMutablePointer<UInt32>, count: Int, order: Int) -> Int {
    buddy.withAnnotatedLock { buddy in
      var taken = 0
      while taken < count, let index = buddy.allocate(order: order, as: .cached) {
        unsafe buffer[taken] = UInt32(index)
        taken += 1
      }
      return taken
    }
  }

  /// Returns `count` cached blocks of `order` from `buffer` to the buddy.
  @inline(never)
  func drain(_ buffer: UnsafeMutablePointer<UInt32>, count: Int, order: Int) {
    buddy.withAnnotatedLock { buddy in
      for position in 0..<count {
        let index = Int(unsafe buffer[position])
        let flags = buddy.flags(index)
        guard flags.state == .cached, flags.order == order else {
          fatalError(
            "cached block state: \(describe(index)) in a thread cache is not a cached order-\(order) block"
          )
        }
        buddy.free(index, order: order)
      }
    }
  }
}

/// A machine in the registry of live machines, held without a reference.
///
/// ## Invariants
/// - `core` is valid while this entry is registered: a core unregisters itself first
///   thing in its deinit, under the registry lock.
@safe struct UnretainedCore: @unchecked Sendable {
  unowned(unsafe) let core: MemoryCore

  init(_ core: MemoryCore) {
    unsafe self.core = core
  }
}
