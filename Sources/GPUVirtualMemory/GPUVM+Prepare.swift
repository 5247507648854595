import PageTables

/// A bind whose every allocation is done: commit it (``GPUVM/commit(_:)``, which
/// cannot fail) or abort it (``GPUVM/abort(_:)``, which gives everything back).
/// Dropping it otherwise traps, since its reservations would leak.
public struct PreparedBind: ~Copyable {
  /// The plan it carries out.
  public let plan: GPUVAPlan
  let vmID: UInt32
  /// Links prepare created (dropped again on abort).
  var newLinks = SmallList<BufferObjectID>()
  /// Chunks prepare allocated (freed again on abort).
  var newChunks = SmallList<(object: BufferObjectID, chunk: Int)>()
  /// VAs whose pages prepare pinned (unpinned again on abort).
  var pinned = SmallList<GPUVA>()
  /// Tables prepare allocated into the reservation, by size.
  var addedTables = SmallList<(bytes: Int, count: Int)>()
  /// The tables reserved, per level.
  var demand: TableDemand
  /// The request's gather, with room for every table the plan can unlink; commit
  /// takes it.
  var gather: TLBGather<InvalidationBatch>?
  /// The lists commit fills, with room for every entry it can add; commit takes them.
  var lists = CommitLists()
  var finished = false

  init(plan: GPUVAPlan, vmID: UInt32, levels: [LevelGeometry]) {
    self.plan = plan
    self.vmID = vmID
    self.demand = TableDemand(levels: levels)
  }

  /// The tables reserved, per level (for reports).
  public var reservedTablesPerLevel: [Int] { demand.counts }

  deinit {
    if !finished {
      fatalError("PreparedBind dropped without commit or abort: its reservations would leak")
    }
  }
}

/// What a commit records as it goes, sized by prepare so that recording allocates
/// nothing: the mappings to unpin after the invalidation, the ranges whose
/// entries stay (`keep`), and the objects whose VA count went down.
struct CommitLists {
  /// Removed mappings of objects (each names its object).
  var unpins = SmallList<GPUVA>()
  var kept = SmallList<Range<UInt64>>()
  var touched = SmallList<BufferObjectID>()

  /// Makes room for a plan of `steps` steps (each adds at most one entry to each list).
  mutating func reserve(steps: Int) {
    unpins.reserveCapacity(steps)
    kept.reserveCapacity(steps)
    touched.reserveCapacity(steps)
  }
}

extension GPUVM {
  /// Does everything `plan` needs that can fail, so that ``commit(_:)`` cannot.
  ///
  /// - Throws: ``GPUVMError/stalePlan``, ``GPUVMError/bindInProgress``, an object
  ///   or protection error, ``GPUVMError/outOfPages`` or
  ///   ``GPUVMError/outOfTableMemory``. Then nothing has changed: no link, page,
  ///   pin or table is left behind.
  public func prepare(_ plan: GPUVAPlan) throws(GPUVMError) -> PreparedBind {
    guard !hasPendingBind, !hasPendingCompletion else { throw .bindInProgress }
    guard plan.generation == space.generation else { throw .stalePlan }
    var prepared = PreparedBind(plan: plan, vmID: id, levels: levels)
    do {
      try check(plan)
      try obtainLinks(for: plan, into: &prepared)
      try pinPages(for: plan, into: &prepared)
      try reserveTables(for: plan, into: &prepared)
    } catch {
      rollBack(&prepared)
      prepared.finished = true
      throw error
    }
    space.reserveNodes(plan.insertedVACount)
    var gather = TLBGather(invalidator: InvalidationBatch())
    gather.reserveCapacity(freedTables: unlinkedTableBound(for: plan, reserved: prepared.demand))
    prepared.gather = consume gather
    prepared.lists.reserve(steps: plan.steps.count)
    hasPendingBind = true
    return prepared
  }

  /// Gives back everything `prepared` reserved; the VM is as before the prepare.
  public func abort(_ prepared: consuming PreparedBind) {
    precondition(prepared.vmID == id, "GPUVM.abort: the prepared bind belongs to this VM")
    rollBack(&prepared)
    prepared.finished = true
    hasPendingBind = false
  }

  /// The object a map step names, checked: known, not evicted, the range inside it.
  func checkedObject(for va: GPUVA) throws(GPUVMError) -> BufferObject? {
    guard let id = va.backing.object else { return nil }
    guard let object = links[id]?.object ?? device.object(id) else { throw .unknownObject(id) }
    guard !object.isEvicted else { throw .objectEvicted(id) }
    let backing = va.backing
    let (first, length) =
      backing.isRepeated ? (backing.repeatBase, backing.repeatRange) : (backing.offset, va.range)
    let (end, overflow) = first.addingReportingOverflow(length)
    guard !overflow, end <= object.size else {
      throw .outsideObject(object: id, offset: first, range: length)
    }
    guard object.chunkSize >= space.pageSize else { throw .misaligned(object.chunkSize) }
    return object
  }

  /// Checks the plan's map steps: objects, ranges, protections.
  func check(_ plan: GPUVAPlan) throws(GPUVMError) {
    for index in plan.steps.indices {
      guard case .map(let va) = plan.steps[index] else { continue }
      _ = try checkedObject(for: va)
      do {
        _ = try pageTable.format.leafTemplate(for: va.protection, level: pageTable.depth - 1)
      } catch {
        throw .pageTable(error)
      }
    }
  }

  /// Creates the links the plan's maps need (`drm_gpuvm_bo_obtain_prealloc`).
  func obtainLinks(for plan: GPUVAPlan, into prepared: inout PreparedBind) throws(GPUVMError) {
    for index in plan.steps.indices {
      guard case .map(let va) = plan.steps[index] else { continue }
      guard let object = try checkedObject(for: va), links[object.id] == nil else { continue }
      links[object.id] = VMBOLink(object: object, vaCount: 0)
      object.linkedVMs.append(id)
      prepared.newLinks.append(object.id)
    }
  }

  /// Allocates the missing chunks of every new mapping and pins them.
  func pinPages(for plan: GPUVAPlan, into prepared: inout PreparedBind) throws(GPUVMError) {
    guard plan.kind == .map else { return }
    for index in plan.steps.indices {
      guard case .map(let va) = plan.steps[index] else { continue }
      guard let object = try checkedObject(for: va) else { continue }
      var failed = false
      object.forEachChunkRun(of: va) { _, chunk, _, _ in
        guard !failed, object.chunks[chunk] == 0 else { return }
        guard let block = object.source.allocateBlock(order: object.chunkOrder) else {
          failed = true
          return
        }
        object.chunks[chunk] = block
        prepared.newChunks.append((object.id, chunk))
      }
      if failed { throw .outOfPages }
      object.pin(va, by: 1)
      prepared.pinned.append(va)
    }
  }

  /// The most tables the plan's unmaps can unlink: one under every entry, at every
  /// level above the leaves, that a removed range touches, and never more than the
  /// page table can hold during the commit (its tables besides the roots, and the
  /// ones reserved for it).
  func unlinkedTableBound(for plan: GPUVAPlan, reserved: TableDemand) -> Int {
    var touched = TableDemand(levels: levels)
    for index in plan.steps.indices {
      switch plan.steps[index] {
      case .unmap(let va, _):
        guard va.backing.object != nil, !va.isEvicted else { continue }
        touched.addMapAnyLayout(virtualAddress: va.address, size: va.range)
      case .remap(let va, _, let prev, let next):
        guard va.backing.object != nil, !va.isEvicted else { continue }
        let start = prev?.end ?? va.address
        touched.addMapAnyLayout(virtualAddress: start, size: (next?.address ?? va.end) - start)
      case .map:
        continue
      }
    }
    return min(touched.total, tableMemory.tablesInUse - pageTable.rootCount + reserved.total)
  }

  /// The tables the plan's page-table work may need at most.
  func tableDemand(for plan: GPUVAPlan) -> TableDemand {
    var demand = TableDemand(levels: levels)
    for index in plan.steps.indices {
      switch plan.steps[index] {
      case .unmap(let va, _):
        if va.backing.object != nil && !va.isEvicted { demand.addUnmapEdges(2) }
      case .remap(let va, _, _, _):
        if va.backing.object != nil && !va.isEvicted { demand.addUnmapEdges(2) }
      case .map(let va):
        guard plan.kind == .map, let id = va.backing.object, let object = links[id]?.object else {
          continue
        }
        let before = demand
        if va.backing.isRepeated {
          demand.addMapAnyLayout(virtualAddress: va.address, size: va.range)
        } else {
          object.forEachPhysicalSegment(of: va) { address, physical, size in
            demand.addMap(virtualAddress: address, physicalAddress: physical, size: size)
          }
        }
        demand.cap(virtualAddress: va.address, size: va.range, from: before)
      }
    }
    return demand
  }

  /// Reserves the tables of ``tableDemand(for:)``.
  func reserveTables(for plan: GPUVAPlan, into prepared: inout PreparedBind) throws(GPUVMError) {
    prepared.demand = tableDemand(for: plan)
    prepared.addedTables = try reserve(prepared.demand)
  }

  /// Makes sure the table memory holds the free tables `demand` asks for; returns
  /// how many it allocated per size, or throws having given those back.
  func reserve(_ demand: TableDemand) throws(GPUVMError) -> SmallList<(bytes: Int, count: Int)> {
    var bySize = SmallList<(bytes: Int, count: Int)>()
    for level in 1..<demand.levels.count where demand.count(atLevel: level) > 0 {
      let bytes = pageTable.level(level).tableBytes
      if let i = bySize.firstIndex(where: { $0.bytes == bytes }) {
        bySize[i].count += demand.count(atLevel: level)
      } else {
        bySize.append((bytes, demand.count(atLevel: level)))
      }
    }
    var added = SmallList<(bytes: Int, count: Int)>()
    for (bytes, count) in bySize {
      guard let allocated = tableMemory.reserve(count, byteCount: bytes) else {
        for (bytes, count) in added { tableMemory.release(count, byteCount: bytes) }
        throw .outOfTableMemory
      }
      added.append((bytes, allocated))
    }
    return added
  }

  /// The object of a link, if there is one.
  func linkedObject(_ id: BufferObjectID?) -> BufferObject? {
    guard let id else { return nil }
    return links[id]?.object
  }

  /// Undoes what prepare did so far.
  func rollBack(_ prepared: inout PreparedBind) {
    for (bytes, count) in prepared.addedTables { tableMemory.release(count, byteCount: bytes) }
    // The lists name objects by id (their elements stay trivial, so the lists cost
    // nothing to copy or drop); prepare's links hold every object named.
    for va in prepared.pinned.reversed() { linkedObject(va.backing.object)?.pin(va, by: -1) }
    for (id, chunk) in prepared.newChunks.reversed() {
      guard let object = linkedObject(id) else { continue }
      object.source.freeBlock(at: object.chunks[chunk], order: object.chunkOrder)
      object.chunks[chunk] = 0
    }
    for objectID in prepared.newLinks {
      if let link = links.removeValue(forKey: objectID) {
        link.object.linkedVMs.removeAll { $0 == id }
      }
    }
    prepared.addedTables.removeAll()
    prepared.pinned.removeAll()
    prepared.newChunks.removeAll()
    prepared.newLinks.removeAll()
  }
}
