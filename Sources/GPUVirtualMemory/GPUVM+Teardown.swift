import PageTables

/// What tearing a VM down found and released.
public struct TeardownReport: Sendable, CustomStringConvertible {
  /// VAs removed.
  public var vasRemoved: Int
  /// Bytes unmapped from the page table.
  public var unmappedBytes: UInt64
  /// Tables unlinked and freed (plus reserved tables given back).
  public var tablesFreed: Int
  /// Bytes of object pages unpinned.
  public var unpinnedBytes: UInt64
  /// Tables still in use besides the root(s): should be 0.
  public var leakedTables: Int
  /// Links still held: should be 0.
  public var leakedLinks: Int

  /// Whether nothing leaked.
  public var isClean: Bool { leakedTables == 0 && leakedLinks == 0 }

  /// One line.
  public var description: String {
    "\(vasRemoved) VA(s) removed, \(unmappedBytes) bytes unmapped, \(tablesFreed) table(s) freed, "
      + "\(unpinnedBytes) bytes unpinned; leaked: \(leakedTables) table(s), \(leakedLinks) link(s)"
  }
}

extension GPUVM {
  /// Tears the VM down: leaves its context slot (invalidating its ASID), unmaps
  /// every VA, unpins every page, drops every link, frees every table but the
  /// root(s) and every reserved table, and reports what leaked (nothing, unless an
  /// invariant broke). The VM stays usable, empty.
  public func tearDown() -> TeardownReport {
    precondition(!hasPendingBind && !hasPendingCompletion, "GPUVM.tearDown: between binds")
    let vas = space.vas
    leaveContext()
    var gather = TLBGather(invalidator: InvalidationBatch())
    var unmapped: UInt64 = 0
    for va in vas where va.backing.object != nil && !va.isEvicted {
      do {
        unmapped += try pageTable.unmap(virtualAddress: va.address, size: va.range, gather: &gather)
      } catch {
        fatalError("GPUVM.tearDown: unmapping whole VAs split no block, yet failed: \(error)")
      }
    }
    var tablesFreed = gather.freedTableCount
    pageTable.flush(&gather)
    var unpinned: UInt64 = 0
    for va in vas {
      space.tree.remove(at: va.address)
      guard let id = va.backing.object, let link = links[id] else { continue }
      if !va.isEvicted {
        link.object.pin(va, by: -1)
        unpinned += va.range
      }
    }
    for (_, link) in links { link.object.linkedVMs.removeAll { $0 == id } }
    links = [:]
    space.generation &+= 1
    let reserved = tableMemory.reservedTables
    tableMemory.trim(keeping: 0)
    tablesFreed += reserved
    return TeardownReport(
      vasRemoved: vas.count, unmappedBytes: unmapped, tablesFreed: tablesFreed,
      unpinnedBytes: unpinned, leakedTables: tableMemory.tablesInUse - pageTable.rootCount,
      leakedLinks: links.count)
  }
}
