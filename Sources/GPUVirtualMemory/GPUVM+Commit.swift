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
  var unpins: [(object: BufferObject, va: GPUVA)]
  /// The steps performed.
  public let steps: [PlanStep]
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
  public var steps: [PlanStep]
  /// Bytes mapped, unmapped, and left in place (`keep`) in the page table.
  public var mappedBytes: UInt64
  /// Bytes unmapped from the page table.
  public var unmappedBytes: UInt64
  /// Bytes whose entries stayed in place because a step had `keep`.
  public var keptBytes: UInt64
  /// Tables reserved by prepare, per level.
  public var reservedTablesPerLevel: [Int]
  /// The invalidation issued (nil when none was needed or the VM is in no slot).
  public var invalidation: RecordingGPUTLB.Command?
  /// Tables unlinked by the bind and freed after the invalidation.
  public var tablesFreed: Int
  /// Bytes of object pages unpinned after the invalidation.
  public var unpinnedBytes: UInt64
}

/// The step handler of a commit: each step's VA-tree change and page-table change.
struct CommitHandler<Format: PageTableFormat, Base: TableMemory>: PlanStepHandler, ~Copyable {
  let vm: GPUVM<Format, Base>
  let plan: GPUVAPlan
  /// The map request, for map plans (keep decisions compare with it).
  let request: GPUVA?
  var gather: TLBGather<InvalidationBatch>
  var unpins: [(object: BufferObject, va: GPUVA)]
  /// Ranges whose entries stay (keep), in address order.
  var kept: [Range<UInt64>]
  /// Objects whose link count went down (checked for dropping at the end).
  var touched: [BufferObjectID]
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
      kept.append(piece.address..<piece.end)
      keptBytes += piece.range
    } else if !piece.isEvicted {
      do {
        unmappedBytes += try vm.pageTable.unmap(
          virtualAddress: piece.address, size: piece.range, gather: &gather)
      } catch {
        fatalError("GPUVM.commit: unmap failed (\(error)) although prepare reserved its tables")
      }
    }
    if !piece.isEvicted { unpins.append((link.object, piece)) }
  }

  /// Maps `va` in the page table, except where entries were kept.
  mutating func install(_ va: GPUVA) {
    guard plan.kind == .map, !va.isEvicted, let id = va.backing.object,
      let object = vm.links[id]?.object
    else { return }
    var position = va.address
    for range in kept where range.upperBound > position && range.lowerBound < va.end {
      if range.lowerBound > position { map(va.slice(from: position, to: range.lowerBound), object) }
      position = max(position, range.upperBound)
    }
    if position < va.end { map(va.slice(from: position, to: va.end), object) }
  }

  /// Maps one piece with the engine's scatter-gather map (one call, all its
  /// physically contiguous segments).
  mutating func map(_ piece: GPUVA, _ object: BufferObject) {
    do {
      mappedBytes += try vm.pageTable.map(
        virtualAddress: piece.address, segments: ObjectSegments(object: object, va: piece),
        protection: piece.protection)
    } catch {
      fatalError("GPUVM.commit: map failed (\(error)) although prepare reserved its tables")
    }
  }

  mutating func adjustLink(_ object: BufferObjectID?, by delta: Int) {
    guard let object else { return }
    vm.links[object]!.vaCount += delta
    if delta < 0 { touched.append(object) }
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
  /// Performs the prepared plan on the VA tree and the page table. Cannot fail and
  /// allocates nothing: page-table tables come from prepare's reservation, VA
  /// nodes from the tree's reserved nodes, and every list it fills was sized by
  /// prepare. Runs inside ``signalling``.
  public func commit(_ prepared: consuming PreparedBind) -> BindCompletion {
    precondition(prepared.vmID == id, "GPUVM.commit: the prepared bind belongs to this VM")
    precondition(hasPendingBind, "GPUVM.commit: a bind was prepared")
    let plan = prepared.plan
    prepared.finished = true
    // Sized outside the section: these are the lists the commit fills (made in
    // place, so the handler holds their only reference and appending never copies).
    let stepCount = plan.steps.count
    var request: GPUVA? = nil
    if plan.kind == .map, case .map(let va)? = plan.steps.last { request = va }

    signalling.begin()
    tableMemory.pool.committing = true
    var handler = CommitHandler(
      vm: self, plan: plan, request: request,
      gather: TLBGather(invalidator: InvalidationBatch()),
      unpins: withCapacity(stepCount), kept: withCapacity(stepCount),
      touched: withCapacity(stepCount))
    space.applyChecked(plan, handler: &handler)
    for object in handler.touched where links[object]?.vaCount == 0 {
      if let link = links.removeValue(forKey: object) {
        link.object.linkedVMs.removeAll { $0 == id }
      }
    }
    tableMemory.pool.committing = false
    signalling.end()

    hasPendingBind = false
    hasPendingCompletion = true
    return BindCompletion(
      gather: handler.gather, unpins: handler.unpins, steps: plan.steps,
      mappedBytes: handler.mappedBytes, unmappedBytes: handler.unmappedBytes,
      keptBytes: handler.keptBytes)
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
      reservedTablesPerLevel: [], invalidation: nil, tablesFreed: gather.freedTables.count,
      unpinnedBytes: 0)
    report.invalidation = invalidate(gather: gather)
    pageTable.flush(&gather)
    for (object, va) in unpins {
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

/// An empty array with room for `count` elements.
func withCapacity<Element>(_ count: Int) -> [Element] {
  var array: [Element] = []
  array.reserveCapacity(count)
  return array
}
