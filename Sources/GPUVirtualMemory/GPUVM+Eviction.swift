import PageTables

extension GPUDevice {
  /// Evicts `object`: in every VM that maps it, its VAs are marked evicted and
  /// their page-table entries removed (one invalidation per VM), their pages
  /// unpinned after the invalidation; then the object's pages are saved (swap)
  /// and freed. The VAs stay in their VA spaces (`DRM_GPUVA_INVALIDATED`).
  public func evict(_ object: BufferObject) {
    guard !object.isEvicted else { return }
    for vmID in object.linkedVMs {
      vms[vmID]?.vm?.evictVAs(of: object)
    }
    for chunk in object.chunks.indices where object.chunks[chunk] != 0 {
      precondition(object.pins[chunk] == 0, "GPUDevice.evict: every mapping is gone")
      object.swapped[chunk] = object.source.read(
        at: object.chunks[chunk], count: Int(object.chunkSize))
    }
    object.releaseUnpinnedChunks()
    object.isEvicted = true
  }

  /// Brings an evicted object back: new pages with the saved contents, and every
  /// evicted VA mapped again (with the largest leaves the new layout allows).
  /// - Throws: ``GPUVMError/outOfPages`` or ``GPUVMError/outOfTableMemory``; the
  ///   object then stays evicted and nothing else changed.
  public func revalidate(_ object: BufferObject) throws(GPUVMError) {
    guard object.isEvicted else { return }
    var allocated: [Int] = []
    for chunk in object.swapped.keys.sorted() {
      guard let block = object.source.allocateBlock(order: object.chunkOrder) else {
        for done in allocated {
          object.source.freeBlock(at: object.chunks[done], order: object.chunkOrder)
          object.chunks[done] = 0
        }
        throw .outOfPages
      }
      object.chunks[chunk] = block
      allocated.append(chunk)
    }
    var done: [any EvictionParticipant] = []
    for vmID in object.linkedVMs {
      guard let vm = vms[vmID]?.vm else { continue }
      do {
        try vm.revalidateVAs(of: object)
        done.append(vm)
      } catch {
        for vm in done { vm.evictVAs(of: object) }
        for chunk in allocated {
          object.source.freeBlock(at: object.chunks[chunk], order: object.chunkOrder)
          object.chunks[chunk] = 0
        }
        throw error
      }
    }
    for chunk in allocated {
      object.source.write(object.swapped[chunk]!, at: object.chunks[chunk])
    }
    object.swapped = [:]
    object.isEvicted = false
  }
}

extension GPUVM {
  /// Removes the entries of `object`'s VAs, marks them evicted, invalidates once,
  /// then unpins their pages.
  func evictVAs(of object: BufferObject) {
    precondition(!hasPendingBind && !hasPendingCompletion, "GPUVM: eviction between binds")
    var gather = TLBGather(invalidator: InvalidationBatch())
    let vas = vas(of: object.id).filter { !$0.isEvicted }
    for va in vas {
      do {
        try pageTable.unmap(virtualAddress: va.address, size: va.range, gather: &gather)
      } catch {
        fatalError("GPUVM.evict: unmapping whole VAs split no block, yet failed: \(error)")
      }
      space.tree.update(at: va.address) { $0.isEvicted = true }
    }
    _ = invalidate(gather: gather)
    pageTable.flush(&gather)
    for va in vas { object.pin(va, by: -1) }
    space.generation &+= 1
  }

  /// Maps `object`'s evicted VAs again, all or nothing.
  func revalidateVAs(of object: BufferObject) throws(GPUVMError) {
    let vas = vas(of: object.id).filter(\.isEvicted)
    var demand = TableDemand(levels: levels)
    for va in vas { demand.addMapAnyLayout(virtualAddress: va.address, size: va.range) }
    _ = try reserve(demand)
    tableMemory.pool.committing = true
    for va in vas {
      var live = va
      live.isEvicted = false
      mapReserved(live, of: object, caller: "GPUVM.revalidate")
      object.pin(live, by: 1)
      space.tree.update(at: va.address) { $0.isEvicted = false }
    }
    tableMemory.pool.committing = false
    space.generation &+= 1
  }
}
