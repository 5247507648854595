import PageTables

/// A GPU virtual address space with its page table: the VA manager, the VM–BO
/// links, and binding in two phases.
///
/// ```swift
/// let vm = try GPUVM(device: device, format: AppleUATFormat(),
///                    tableMemory: PhysicalPageTableMemory(ram))
/// let plan = try vm.space.planMap(MapRequest(address: 0x10_0000, range: 0x10000,
///                                            backing: .object(object.id, offset: 0)))
/// let prepared = try vm.prepare(plan)      // may fail; then nothing changed
/// let done = vm.commit(prepared)           // cannot fail, allocates nothing
/// let report = vm.complete(done)           // at most one TLB invalidation, then frees
/// ```
///
/// - ``prepare(_:)`` does everything that can fail: it checks the plan is current
///   and its objects and protections are valid, creates missing VM–BO links
///   (`drm_gpuvm_bo_obtain_prealloc`), allocates missing object pages and pins
///   them, reserves every table the page-table work may need (a worst case from
///   the format's geometry: ``TableDemand``) and every VA-tree node.
/// - ``commit(_:)`` performs the plan's steps on the VA tree and the page table,
///   drawing tables only from the reservation, inside the VM's
///   ``FenceSignallingSection``; it returns what must happen after the TLB
///   invalidation.
/// - ``complete(_:)`` issues one invalidation for the whole request (to the VM's
///   ASID, if it is in a context slot), then frees emptied tables and unpins the
///   pages of removed mappings.
///
/// A `GPUVM` is not thread-safe: its owner serialises binds (drm_gpuvm's
/// `DOC: Locking`: locking is the driver's).
public final class GPUVM<Format: PageTableFormat, Base: TableMemory>: EvictionParticipant {
  /// The VM's id in its device.
  public private(set) var id: UInt32 = 0
  /// The device.
  public let device: GPUDevice
  /// The VA space and its VAs.
  public internal(set) var space: GPUVASpace
  /// The page table the GPU walks.
  public let pageTable: PageTable<Format, ReservedTableMemory<Base>>
  /// The format's levels (what ``TableDemand`` works from).
  let levels: [LevelGeometry]
  /// The section a commit runs in.
  public let signalling: FenceSignallingSection
  /// The VM–BO links, by object.
  var links: [BufferObjectID: VMBOLink] = [:]
  /// Whether a prepared bind awaits its commit (or abort).
  var hasPendingBind = false
  /// Whether a commit's completion awaits ``complete(_:)``.
  var hasPendingCompletion = false
  /// The last commit's buffers as it began and ended, and the tables it unlinked
  /// (for the tests that show a commit allocates nothing).
  var lastCommit: (before: CommitStorage, after: CommitStorage, unlinkedTables: Int)?
  /// The register value of a context slot holding this VM.
  let contextRegister: @Sendable (UInt64, Int) -> UInt64

  /// A VM over `format`'s (first) window, or `[start, start + range)` of it, its
  /// tables in `tableMemory`.
  ///
  /// `contextRegister(root, asid)` is what a context slot holds for this VM; the
  /// default is Apple UAT's TTBAT value `root | 1 | asid << 48` for
  /// `AppleUATFormat` and an ARM64 TTBR (`root | asid << 48`) otherwise.
  public init(
    device: GPUDevice, format: Format, tableMemory: Base, start: UInt64? = nil,
    range: UInt64? = nil, reservedKernelNode: Range<UInt64>? = nil,
    signalling: FenceSignallingSection = FenceSignallingSection(),
    cachedTables: Int = 16,
    contextRegister: (@Sendable (UInt64, Int) -> UInt64)? = nil
  ) throws(GPUVMError) {
    let geometry = format.geometry
    self.levels = geometry.levels
    let window = geometry.windows[0]
    let pageSize = geometry.granule
    let first = start ?? (window.first + pageSize - 1) / pageSize * pageSize
    let size = range ?? (window.last - first + 1)
    self.space = try GPUVASpace(
      start: first, range: size, pageSize: pageSize, reservedKernelNode: reservedKernelNode)
    do {
      self.pageTable = try PageTable(
        format: format, memory: ReservedTableMemory(tableMemory, cachedTables: cachedTables),
        options: PageTableOptions(trapOnLeakedMappings: false))
    } catch {
      throw .pageTable(error)
    }
    self.device = device
    self.signalling = signalling
    self.contextRegister =
      contextRegister ?? { root, asid in
        format is AppleUATFormat ? root | 1 | UInt64(asid) << 48 : root | UInt64(asid) << 48
      }
    self.id = device.register(self)
  }

  deinit {
    device.vms[id] = nil
  }

  /// The table memory (with its reservation counts).
  public var tableMemory: ReservedTableMemory<Base> { pageTable.memory }

  /// The objects this VM maps (one VM–BO link each), by id.
  public var linkedObjects: [BufferObjectID] { links.keys.sorted() }

  /// How many VAs of this VM map `object` (0 when there is no link).
  public func vaCount(of object: BufferObjectID) -> Int { links[object]?.vaCount ?? 0 }

  /// The VAs of this VM backed by `object`.
  public func vas(of object: BufferObjectID) -> [GPUVA] {
    space.vas.filter { $0.backing.object == object }
  }

  // MARK: Context slots

  /// Binds the VM to a free context slot (invalidating its new ASID first).
  @discardableResult
  public func bindToContext() throws(GPUVMError) -> Int {
    let root = pageTable.rootAddress()
    let register = contextRegister
    return try device.contexts.bind(vmID: id) { asid in register(root, asid) }
  }

  /// Binds the VM to slot 0 as the kernel VM (ASID 0).
  public func bindAsKernelContext() {
    let root = pageTable.rootAddress()
    let register = contextRegister
    device.contexts.bindKernel(vmID: id) { asid in register(root, asid) }
  }

  /// Takes the VM out of its context slot (invalidating its ASID).
  public func leaveContext() { device.contexts.unbind(vmID: id) }

  /// The slot holding this VM, if any.
  public var contextSlot: Int? { device.contexts.slot(of: id) }
  /// The ASID this VM runs with, if it is in a slot.
  public var asid: Int? { device.contexts.asid(of: id) }
}

/// A VM–BO link (`drm_gpuvm_bo`): one per (VM, object) pair while the VM maps the
/// object.
struct VMBOLink {
  /// The object.
  let object: BufferObject
  /// The VAs of the VM that map it.
  var vaCount: Int
}
