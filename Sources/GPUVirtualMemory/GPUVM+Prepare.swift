import PageTables

/// A bind whose every allocation is done: commit it (``GPUVM/commit(_:)``, which
/// cannot fail) or abort it (``GPUVM/abort(_:)``, which gives everything back).
/// Dropping it otherwise traps, since its reservations would leak.
public struct PreparedBind: ~Copyable {
  /// The plan it carries out.
  public let plan: GPUVAPlan
  let vmID: UInt32
  /// Links prepare created (dropped again on abort).
  var newLinks: [BufferObjectID] = []
  /// Chunks prepare allocated (freed again on abort).
  var newChunks: [(object: BufferObject, chunk: Int)] = []
  /// VAs whose pages prepare pinned (unpinned again on abort).
  var pinned: [(object: BufferObject, va: GPUVA)] = []
  /// Tables prepare allocated into the reservation, by size.
  var addedTables: [(bytes: Int, count: Int)] = []
  /// The tables reserved, per level (for reports).
  public internal(set) var reservedTablesPerLevel: [Int] = []
  var finished = false

  init(plan: GPUVAPlan, vmID: UInt32) {
    self.plan = plan
    self.vmID = vmID
  }

  deinit {
    if !finished {
      fatalError("PreparedBind dropped without commit or abort: its reservations would leak")
    }
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
    var prepared = PreparedBind(plan: plan, vmID: id)
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
    for case .map(let va) in plan.steps {
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
    for case .map(let va) in plan.steps {
      guard let object = try checkedObject(for: va), links[object.id] == nil else { continue }
      links[object.id] = VMBOLink(object: object, vaCount: 0)
      object.linkedVMs.append(id)
      prepared.newLinks.append(object.id)
    }
  }

  /// Allocates the missing chunks of every new mapping and pins them.
  func pinPages(for plan: GPUVAPlan, into prepared: inout PreparedBind) throws(GPUVMError) {
    guard plan.kind == .map else { return }
    for case .map(let va) in plan.steps {
      guard let object = try checkedObject(for: va) else { continue }
      var failed = false
      object.forEachChunkRun(of: va) { _, chunk, _, _ in
        guard !failed, object.chunks[chunk] == 0 else { return }
        guard let block = object.source.allocateBlock(order: object.chunkOrder) else {
          failed = true
          return
        }
        object.chunks[chunk] = block
        prepared.newChunks.append((object, chunk))
      }
      if failed { throw .outOfPages }
      object.pin(va, by: 1)
      prepared.pinned.append((object, va))
    }
  }

  /// The tables the plan's page-table work may need at most.
  func tableDemand(for plan: GPUVAPlan) -> TableDemand {
    var demand = TableDemand(levels: pageTable.format.geometry.levels)
    for step in plan.steps {
      switch step {
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
    let demand = tableDemand(for: plan)
    prepared.reservedTablesPerLevel = demand.counts
    prepared.addedTables = try reserve(demand)
  }

  /// Makes sure the table memory holds the free tables `demand` asks for; returns
  /// how many it allocated per size, or throws having given those back.
  func reserve(_ demand: TableDemand) throws(GPUVMError) -> [(bytes: Int, count: Int)] {
    var bySize: [(bytes: Int, count: Int)] = []
    for level in 1..<demand.counts.count where demand.counts[level] > 0 {
      let bytes = pageTable.level(level).tableBytes
      if let i = bySize.firstIndex(where: { $0.bytes == bytes }) {
        bySize[i].count += demand.counts[level]
      } else {
        bySize.append((bytes, demand.counts[level]))
      }
    }
    var added: [(bytes: Int, count: Int)] = []
    for (bytes, count) in bySize {
      guard let allocated = tableMemory.reserve(count, byteCount: bytes) else {
        for (bytes, count) in added { tableMemory.release(count, byteCount: bytes) }
        throw .outOfTableMemory
      }
      added.append((bytes, allocated))
    }
    return added
  }

  /// Undoes what prepare did so far.
  func rollBack(_ prepared: inout PreparedBind) {
    for (bytes, count) in prepared.addedTables { tableMemory.release(count, byteCount: bytes) }
    for (object, va) in prepared.pinned.reversed() { object.pin(va, by: -1) }
    for (object, chunk) in prepared.newChunks.reversed() {
      object.source.freeBlock(at: object.chunks[chunk], order: object.chunkOrder)
      object.chunks[chunk] = 0
    }
    for objectID in prepared.newLinks {
      if let link = links.removeValue(forKey: objectID) {
        link.object.linkedVMs.removeAll { $0 == id }
      }
    }
    prepared.addedTables = []
    prepared.pinned = []
    prepared.newChunks = []
    prepared.newLinks = []
  }
}
