import PageTables

extension MMUCore {
  /// Judges the one entry at `index` of the table at `table`, written since the
  /// model last looked: its copy holds the old value, memory the new one; only that
  /// entry is compared and judged (against the TLB and walk caches through the
  /// pending changes, and break-before-make), not the rest of memory.
  mutating func entryWritten(_ table: UInt64, index: Int) throws(MMUUsageError) {
    event &+= 1
    guard checking else { return }
    // A table the model does not know is not reachable yet: the model reads it in
    // whole when an entry of a live table links it.
    guard let shadow = shadow(at: table), shadow.live else { return }
    guard index >= 0 && index < shadow.count else {
      throw .entryIndexOutOfRange(table: table, index: index, entries: shadow.count)
    }
    let new = read(table, level: shadow.level, index: index)
    let old = shadow.entry(index)
    guard new != old else { return }
    shadow.record(new, at: index)
    operation = .entryWrite
    judge(EntryChange(table: table, index: index, old: old, new: new), in: shadow)
  }

  /// The model's copy of the table at `address`, if it has one; remembers it, so a
  /// run of writes to one table looks it up once.
  @inline(__always)
  mutating func shadow(at address: UInt64) -> ShadowTable? {
    if lastShadow.address == address && lastShadow.generation == shadowsGeneration {
      return lastShadow.shadow
    }
    let found = shadows[address]
    lastShadow = (address, shadowsGeneration, found)
    return found
  }
}
