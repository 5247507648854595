/// The GPU the VMs belong to: where buffer objects come from, the objects
/// themselves, and the address-space context slots.
///
/// ```swift
/// let ram = try PhysicalMemory(configuration: .init(pageSize: 16384))
/// let device = try GPUDevice(pageSource: PhysicalPageSource(ram))
/// let object = try device.makeObject(size: 0x10000)
/// let vm = try GPUVM(device: device, format: AppleUATFormat(),
///                    tableMemory: PhysicalPageTableMemory(ram))
/// ```
///
/// Not thread-safe: a driver serialises its VM and object operations, as DRM
/// drivers do with their VM locks and objects' reservation locks.
public final class GPUDevice {
  /// Where buffer objects' pages come from.
  public let pageSource: any BackingPageSource
  /// The context slots (TTBAT) and the TLB.
  public internal(set) var contexts: ContextTable
  var objects: [BufferObjectID: BufferObject] = [:]
  var nextObject: UInt32 = 1
  var nextVM: UInt32 = 1
  /// The live VMs, by id, for eviction (weakly held).
  var vms: [UInt32: WeakVM] = [:]

  /// A device whose objects take pages from `pageSource`, with `contextSlots`
  /// slots and `asids` ASIDs (64 each for the AGX GPU) invalidated through `tlb`.
  /// - Throws: ``GPUVMError/tooFewContexts(slots:asids:)`` for fewer than 2 slots or
  ///   2 ASIDs.
  public init(
    pageSource: any BackingPageSource, contextSlots: Int = 64, asids: Int = 64,
    tlb: any GPUTLB = RecordingGPUTLB()
  ) throws(GPUVMError) {
    self.pageSource = pageSource
    self.contexts = try ContextTable(slotCount: contextSlots, asidCount: asids, tlb: tlb)
  }

  /// A new object of `size` bytes with no pages yet, allocated in chunks of
  /// `chunkSize` bytes (default: one page of the source).
  /// - Throws: ``GPUVMError/misaligned(_:)`` unless `size` is a positive multiple of
  ///   the chunk size and the chunk size a power-of-two multiple of the page size.
  public func makeObject(size: UInt64, chunkSize: UInt64? = nil) throws(GPUVMError)
    -> BufferObject
  {
    let chunk = chunkSize ?? pageSource.pageSize
    guard chunk >= pageSource.pageSize, chunk & (chunk - 1) == 0 else { throw .misaligned(chunk) }
    guard size > 0 else { throw .emptyRange }
    guard size % chunk == 0 else { throw .misaligned(size) }
    let object = BufferObject(
      id: BufferObjectID(nextObject), size: size, chunkSize: chunk, source: pageSource)
    nextObject += 1
    objects[object.id] = object
    return object
  }

  /// The object with `id`, if it exists.
  public func object(_ id: BufferObjectID) -> BufferObject? { objects[id] }

  /// Every live object.
  public var allObjects: [BufferObject] { objects.values.sorted { $0.id < $1.id } }

  /// Destroys an object no VM maps: frees its pages.
  /// - Throws: ``GPUVMError/objectInUse(_:)`` while a VM still maps it, or its
  ///   pages are still pinned (an unbind committed but not yet completed).
  public func destroyObject(_ object: BufferObject) throws(GPUVMError) {
    guard object.linkedVMs.isEmpty, object.totalPins == 0 else { throw .objectInUse(object.id) }
    object.releaseUnpinnedChunks()
    object.swapped = [:]
    objects[object.id] = nil
  }

  /// Registers a VM; returns its id.
  func register(_ vm: any EvictionParticipant) -> UInt32 {
    let id = nextVM
    nextVM += 1
    vms[id] = WeakVM(vm: vm)
    return id
  }
}

/// What the device asks of a VM when an object is evicted or revalidated.
protocol EvictionParticipant: AnyObject {
  /// Removes the page-table entries of every VA of `object`, marks the VAs evicted,
  /// invalidates, and unpins their pages.
  func evictVAs(of object: BufferObject)
  /// Maps the evicted VAs of `object` again; throws (changing nothing) when memory
  /// runs out.
  func revalidateVAs(of object: BufferObject) throws(GPUVMError)
}

/// A weakly held VM.
struct WeakVM {
  weak var vm: (any EvictionParticipant)?
}
