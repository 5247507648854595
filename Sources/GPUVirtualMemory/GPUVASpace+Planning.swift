import PageTables

extension GPUVASpace {
  /// The steps of `drm_gpuvm_sm_map` for `request`: for every VA the request
  /// overlaps, in address order, an unmap (the VA lies inside the request) or a
  /// remap that keeps the `prev` piece before the request and/or the `next` piece
  /// after it (with their object offsets moved along); then the map of the
  /// request itself.
  ///
  /// `keep` is set on an unmap or remap when the old VA has an object and maps the
  /// same object bytes at the same addresses as the request where they overlap
  /// (the kernel's `merge`): its page-table entries could stay. For repeated
  /// backings this compares the object offset at the first overlapping address,
  /// which is the proposal's `can_merge` rule (same window, VA distance a multiple
  /// of the window) phrased for pieces that carry a phase.
  ///
  /// Like the kernel's code (not its prose: "the sequence might be empty if the
  /// requested mapping already exists"), an identical request still gives an
  /// unmap with `keep` and a map.
  ///
  /// - Throws: a range error, or ``GPUVMError/invalidRepeat(objectRange:vaRange:)``;
  ///   planning never changes the space.
  public func planMap(_ request: MapRequest) throws(GPUVMError) -> GPUVAPlan {
    let req = request.va
    try validate(req)
    var steps = PlanStepList()
    forEachSplit(of: req.address, end: req.end) { va, prev, next in
      let keep = Self.keeps(va, for: req)
      if prev == nil && next == nil {
        steps.append(.unmap(va, keep: keep))
      } else {
        steps.append(.remap(unmap: va, keep: keep, prev: prev, next: next))
      }
    }
    steps.append(.map(req))
    return GPUVAPlan(
      kind: .map, address: req.address, range: req.range, steps: steps, generation: generation)
  }

  /// The steps of `drm_gpuvm_sm_unmap` for `[address, address + range)`: an unmap
  /// for every VA inside the range and a remap (never with `keep`) for a VA that
  /// reaches out of it.
  public func planUnmap(address: UInt64, range: UInt64) throws(GPUVMError) -> GPUVAPlan {
    try validate(address: address, range: range)
    var steps = PlanStepList()
    forEachSplit(of: address, end: address &+ range) { va, prev, next in
      if prev == nil && next == nil {
        steps.append(.unmap(va, keep: false))
      } else {
        steps.append(.remap(unmap: va, keep: false, prev: prev, next: next))
      }
    }
    return GPUVAPlan(
      kind: .unmap, address: address, range: range, steps: steps, generation: generation)
  }

  /// The steps of `drm_gpuvm_madvise_ops_create` for `[address, address + range)`:
  /// split-only (remap and map, never unmap), so that the part of a VA inside the
  /// range can take new attributes (`protection` here).
  ///
  /// Following the kernel (`if (madvise && obj) continue;`), only VAs without an
  /// object (sparse VAs, Xe's CPU-address-mirror VMAs) are split; VAs with an
  /// object are left alone, and VAs wholly inside the range get no step (the
  /// driver updates their attributes itself, as `xe_vm_madvise` does). The issue
  /// that asked for this layer describes madvise as splitting every VA; the
  /// kernel wins. A VA that straddles a boundary gives a remap keeping its outside
  /// piece(s) and a map of its inside piece with the new protection.
  public func planMadvise(address: UInt64, range: UInt64, protection: Protection)
    throws(GPUVMError) -> GPUVAPlan
  {
    try validate(address: address, range: range)
    let reqEnd = address &+ range
    var steps = PlanStepList()
    var cursor = tree.firstOverlap(start: address, end: reqEnd)
    while let index = cursor {
      cursor = tree.nextOverlap(after: index, end: reqEnd)
      let va = tree[index]
      guard va.backing.object == nil else { continue }
      let prev = va.address < address ? va.slice(from: va.address, to: address) : nil
      let next = va.end > reqEnd ? va.slice(from: reqEnd, to: va.end) : nil
      guard prev != nil || next != nil else { continue }
      steps.append(.remap(unmap: va, keep: false, prev: prev, next: next))
      var inside = va.slice(from: max(va.address, address), to: min(va.end, reqEnd))
      inside.protection = protection
      steps.append(.map(inside))
    }
    return GPUVAPlan(
      kind: .madvise, address: address, range: range, steps: steps, generation: generation)
  }

  /// Calls `body` with every VA overlapping `[start, end)` in address order, and its
  /// pieces before `start` and after `end` (nil where it does not reach out).
  func forEachSplit(
    of start: UInt64, end: UInt64, _ body: (GPUVA, GPUVA?, GPUVA?) -> Void
  ) {
    var cursor = tree.firstOverlap(start: start, end: end)
    while let index = cursor {
      cursor = tree.nextOverlap(after: index, end: end)
      let va = tree[index]
      let prev = va.address < start ? va.slice(from: va.address, to: start) : nil
      let next = va.end > end ? va.slice(from: end, to: va.end) : nil
      body(va, prev, next)
    }
  }

  /// The kernel's `merge`: `va` has an object, and maps the same object bytes as
  /// `request` at the first address they share.
  static func keeps(_ va: GPUVA, for request: GPUVA) -> Bool {
    let old = va.backing
    let new = request.backing
    guard let object = old.object, object == new.object, old.repeatRange == new.repeatRange
    else { return false }
    if old.isRepeated && old.repeatBase != new.repeatBase { return false }
    let shared = max(va.address, request.address)
    return old.offset(after: shared &- va.address) == new.offset(after: shared &- request.address)
  }
}
