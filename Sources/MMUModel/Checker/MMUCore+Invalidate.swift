import PageTables

extension MMUCore {
  /// Carries out a TLB maintenance command in `vmid`: first looks at memory (so
  /// every write before the command is judged as before it), then drops the TLB
  /// and walk-cache entries it covers, and the pending changes it covers.
  mutating func invalidate(_ command: TLBInvalidation, vmid: UInt16) {
    event &+= 1
    operation = .invalidation(command)
    synchronize()
    tlb.invalidate(command, vmid: vmid)
    walkCache.invalidate(command, vmid: vmid)
    guard checking, !pending.isEmpty else { return }
    var forgotten: [UInt64] = []
    pending = pending.filter { key, change in
      let tag = spaces[change.space].tag
      guard tag.vmid == vmid else { return true }
      let covered =
        change.oldIsTable
        ? command.coversTree(
          first: change.first, last: change.last, smallest: change.smallestLeaf, asid: tag.asid)
        : command.covers(
          first: change.first, last: change.last, asid: tag.asid, global: change.oldGlobal,
          isLeaf: true)
      if covered && change.oldIsTable {
        forgotten.append(format.tableAddress(of: change.old, level: change.level))
      }
      if covered, let shadow = shadows[key.table] { shadow.pendingCount -= 1 }
      return !covered
    }
    for table in forgotten { forget(table) }
  }

  /// Reports every change still waiting for an invalidation (once each).
  mutating func checkQuiescent() {
    event &+= 1
    operation = .quiescenceCheck
    synchronize()
    for (key, change) in pending where !change.reported {
      pending[key]!.reported = true
      recordStale(change, operation: .quiescenceCheck, cachedAt: nil)
    }
  }
}
