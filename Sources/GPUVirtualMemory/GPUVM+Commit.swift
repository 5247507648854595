import PageTables

/// Collects the engine's invalidation requests during a commit into one range,
/// so that a bind issues one invalidation however many steps it took.
public struct InvalidationBatch: TLBInvalidator, Sendable {
  /// The first address to invalidate (`UInt64.max` when nothing was asked).
  public private(set) var start: UInt64 = .max
  /// The end of the range to invalidate.
  public private(set) var end: UInt64 = 0
  /// The smallest leaf size asked for.
  public private(set) var granule: UInt64 = .max
  /// Whether only leaves changed (no table was unlinked).
  public private(set) var leafOnly = true
  /// Whether the whole address space must go.
  public private(set) var everything = false

  /// Nothing to invalidate yet.
  public init() {}

  /// Whether anything must be invalidated.
  public var isEmpty: Bool { !everything && start == .max }

  /// Widens the batch to the whole address space.
  public mutating func invalidateAll() {
    everything = true
    leafOnly = false
  }

  /// Widens the batch to cover `[start, start + size)`.
  public mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    self.start = min(self.start, start)
    end = max(end, start &+ size)
    self.granule = min(self.granule, granule)
    self.leafOnly = self.leafOnly && leafOnly
  }
}

/// What a commit left to do after the TLB invalidation: the gather holding
/// unlinked tables, and the mappings whose pages to unpin. Hand it to
/// ``GPUVM/complete(_:)``; dropping it with tables pending traps (the gather's
/// own rule).
public struct BindCompletion: ~Copyable {
  /// The request's gather (one per bind).
  var gather: TLBGather<InvalidationBatch>
  /// Removed mappings, whose pages are unpinned after the invalidation.
  var unpins: SmallList<GPUVA>
  /// The tables prepare reserved, per level.
  let demand: TableDemand
  /// The steps performed.
  public let steps: PlanStepList
  /// Bytes the commit mapped in the page table.
  public let mappedBytes: UInt64
  /// Bytes the commit unmapped from the page table.
  public let unmappedBytes: UInt64
  /// Bytes whose page-table entries stayed in place (`keep`).
  public let keptBytes: UInt64
}

/// What one bind did, after ``GPUVM/complete(_:)``.
public struct BindReport: Sendable {
  /// The steps performed.
  public var steps: PlanStepList
  /// Bytes mapped, unmapped, and left in place (`keep`) in the page table.
  public var mappedBytes: UInt64
  /// Bytes unmapped from the page table.
  public var unmappedBytes: UInt64
  /// Bytes whose entries stayed in place because a step had `keep`.
  public var keptBytes: UInt64
  /// Tables reserved by prepare.
  var demand: TableDemand
  /// The invalidation issued (nil when none was needed or the VM is in no slot).
  public var invalidation: RecordingGPUTLB.Command?
  /// Tables unlinked by the bind and freed after the invalidation.
  public var tablesFreed: Int
  /// Bytes of object pages unpinned after the invalidation.
  public var unpinnedBytes: UInt64

  /// Tables reserved by prepare, per level.
  public var reservedTablesPerLevel: [Int] { demand.counts }
}

/// The step handler of a commit: each step's VA-tree change and page-table change.
struct CommitHandler<Format: PageTableFormat, Base: TableMemory>: PlanStepHandler, ~Copyable {
  let vm: GPUVM<Format, Base>
  /// What the plan's request was.
  let kind: GPUVAPlan.Kind
  /// The map request, for map plans (keep decisions compare with it).
  let request: GPUVA?
  var gather: TLBGather<InvalidationBatch>
  /// The unpins, the kept ranges (in address order) and the objects whose link
  /// count went down (checked for dropping at the end), with room made by prepare.
  var lists: CommitLists
  var mappedBytes: UInt64 = 0
  var unmappedBytes: UInt64 = 0
  var keptBytes: UInt64 = 0

  /// Whether `piece`'s entries can stay for the request: the step said keep, and
  /// the entries also carry the request's protection.
  func canKeep(_ piece: GPUVA, keep: Bool) -> Bool {
    guard keep, let request, !piece.isEvicted else { return false }
    return piece.protection == request.protection
  }

  /// Removes `piece` from the page table (or keeps its entries) and records its unpin.
  mutating func remove(_ piece: GPUVA, keep: Bool) {
    guard let id = piece.backing.object, let link = vm.links[id] else { return }
    if canKeep(piece, keep: keep) {
      lists.kept.append(piece.address..<piece.end)
      keptBytes += piece.range
    } else if !piece.isEvicted {
      do {
        unmappedBytes += try vm.pageTable.unmap(
          virtualAddress: piece.address, size: piece.range, gather: &gather)
      } catch {
        fatalError("GPUVM.commit: unmap failed (\(error)) although prepare reserved its tables")
      }
    }
    if !piece.isEvicted { lists.unpins.append(piece) }
  }

  /// Maps `va` in the page table, except where entries were kept.
  mutating func install(_ va: GPUVA) {
    guard kind == .map, !va.isEvicted, let id = va.backing.object,
      let object = vm.links[id]?.object
    else { return }
    var position = va.address
    for range in lists.kept where range.upperBound > position && range.lowerBound < va.end {
      if range.lowerBound > position { map(va.slice(from: position, to: range.lowerBound), object) }
      position = max(position, range.upperBound)
    }
    if position < va.end { map(va.slice(from: position, to: va.end), object) }
  }

  /// Maps one piece (``GPUVM/mapReserved(_:of:caller:)``).
  mutating func map(_ piece: GPUVA, _ object: BufferObject) {
    vm.mapReserved(piece, of: object, caller: "GPUVM.commit")
    mappedBytes += piece.range
  }

  mutating func adjustLink(_ object: BufferObjectID?, by delta: Int) {
    guard let object else { return }
    vm.links[object]!.vaCount += delta
    if delta < 0 { lists.touched.append(object) }
  }

  mutating func map(_ step: consuming MapStep, in space: inout GPUVASpace) -> PerformedStep {
    install(step.va)
    adjustLink(step.va.backing.object, by: 1)
    return step.perform(in: &space)
  }

  mutating func remap(_ step: consuming RemapStep, in space: inout GPUVASpace) -> PerformedStep {
    let removed = step.removedRange
    remove(step.unmap.slice(from: removed.lowerBound, to: removed.upperBound), keep: step.keep)
    let pieces = (step.prev == nil ? 0 : 1) + (step.next == nil ? 0 : 1)
    adjustLink(step.unmap.backing.object, by: pieces - 1)
    return step.perform(in: &space)
  }

  mutating func unmap(_ step: consuming UnmapStep, in space: inout GPUVASpace) -> PerformedStep {
    remove(step.va, keep: step.keep)
    adjustLink(step.va.backing.object, by: -1)
    return step.perform(in: &space)
  }
}

extension GPUVM {
  /// Maps `va`'s object pages, whose tables are reserved: a `map` per physically
  /// contiguous segment (each gets the largest leaves its alignment allows). The
  /// engine's scatter-gather `map` would take them in one call, but it is generic
  /// over the segments' collection and runs unspecialized from this module, at
  /// several times the cost; its all-or-nothing rollback buys nothing here, where
  /// a failure is a broken reservation and traps, naming `caller`.
  func mapReserved(_ va: GPUVA, of object: BufferObject, caller: StaticString) {
    object.forEachPhysicalSegment(of: va) { address, physical, size in
      do {
        try pageTable.map(
          virtualAddress: address, physicalAddress: physical, size: size,
          protection: va.protection)
      } catch {
        fatalError("\(caller): map failed (\(error)) although its tables were reserved")
      }
    }
  }

  /// Performs the prepared plan on the VA tree and the page table. Cannot fail and
  /// allocates nothing: page-table tables come from prepare's reservation, VA
  /// nodes from the tree's reserved nodes, and every list it fills was sized by
  /// prepare. Runs inside ``signalling``.
  public func commit(_ prepared: consuming PreparedBind) -> BindCompletion {
    precondition(prepared.vmID == id, "GPUVM.commit: the prepared bind belongs to this VM")
    precondition(hasPendingBind, "GPUVM.commit: a bind was prepared")
    let plan = prepared.plan
    prepared.finished = true
    var request: GPUVA? = nil
    if plan.kind == .map, case .map(let va)? = plan.steps.last { request = va }
    // The gather and the lists prepare made room in (taken, so the handler holds
    // their only reference and appending never copies).
    guard let gather = prepared.gather.take() else {
      preconditionFailure("GPUVM.commit: prepare made the gather")
    }
    var lists = CommitLists()
    swap(&lists, &prepared.lists)

    signalling.begin()
    tableMemory.pool.committing = true
    var handler = CommitHandler(
      vm: self, kind: plan.kind, request: request, gather: gather, lists: consume lists)
    let storageBefore = commitStorage(handler)
    space.applyChecked(plan, handler: &handler)
    for object in handler.lists.touched where links[object]?.vaCount == 0 {
      if let link = links.removeValue(forKey: object) {
        link.object.linkedVMs.removeAll { $0 == id }
      }
    }
    lastCommit = (storageBefore, commitStorage(handler), handler.gather.freedTableCount)
    tableMemory.pool.committing = false
    signalling.end()

    hasPendingBind = false
    hasPendingCompletion = true
    return BindCompletion(
      gather: handler.gather, unpins: handler.lists.unpins, demand: prepared.demand,
      steps: plan.steps, mappedBytes: handler.mappedBytes,
      unmappedBytes: handler.unmappedBytes, keptBytes: handler.keptBytes)
  }

  /// Finishes a committed bind: one TLB invalidation for the whole request (by the
  /// VM's ASID, when it is in a context slot), then the emptied tables are freed
  /// and the removed mappings' pages unpinned.
  public func complete(_ completion: consuming BindCompletion) -> BindReport {
    precondition(hasPendingCompletion, "GPUVM.complete: a bind was committed")
    var gather = completion.gather
    let unpins = completion.unpins
    var report = BindReport(
      steps: completion.steps, mappedBytes: completion.mappedBytes,
      unmappedBytes: completion.unmappedBytes, keptBytes: completion.keptBytes,
      demand: completion.demand, invalidation: nil, tablesFreed: gather.freedTableCount,
      unpinnedBytes: 0)
    report.invalidation = invalidate(gather: gather)
    pageTable.flush(&gather)
    for va in unpins {
      // The object is pinned, so it lives on in the device even if its link went.
      guard let id = va.backing.object, let object = device.object(id) else {
        preconditionFailure("GPUVM.complete: an object stays while its pages are pinned")
      }
      object.pin(va, by: -1)
      report.unpinnedBytes += va.range
    }
    tableMemory.trim(keeping: tableMemory.pool.cacheLimit)
    hasPendingCompletion = false
    return report
  }

  /// Issues the one invalidation `gather` (and what it already batched) needs.
  func invalidate(gather: borrowing TLBGather<InvalidationBatch>) -> RecordingGPUTLB.Command? {
    var batch = gather.invalidator
    if gather.start != gather.end {
      batch.invalidate(
        start: gather.start, size: gather.end - gather.start, granule: gather.granule,
        leafOnly: !gather.freesTables)
    } else if gather.freesTables {
      batch.invalidateAll()
    }
    guard !batch.isEmpty, let asid else { return nil }
    let tlb = device.contexts.tlb
    if batch.everything {
      tlb.invalidateASID(asid)
      return .asid(asid)
    }
    let size = batch.end - batch.start
    tlb.invalidate(
      asid: asid, start: batch.start, size: size, granule: batch.granule,
      leafOnly: batch.leafOnly)
    return .range(
      asid: asid, start: batch.start, size: size, granule: batch.granule, leafOnly: batch.leafOnly)
  }
}
