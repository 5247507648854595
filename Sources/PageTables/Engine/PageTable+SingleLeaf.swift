extension PageTable {
  /// The shortcut of a `map` whose rest is exactly one empty leaf slot of the table
  /// `view` (of `level`, index 0 at `base`) and whose leaf template is ready — one
  /// 4 KiB page: reserve the slot, store the leaf, done. `nil` sends every other case
  /// (a block whose template is not computed yet, an occupied slot, anything that
  /// needs runs or several leaves) down the general path, ``mapInTable(_:level:base:cursor:)``.
  @inline(__always) @usableFromInline
  func mapSingleLeaf(_ view: TableView, level: Int, base: UInt64, cursor: inout MapCursor)
    -> MapStatus?
  {
    let geometry = plan(level)
    let leafSize = geometry.leafSize
    guard cursor.end &- cursor.virtualAddress == leafSize, geometry.allowsLeaf,
      (cursor.virtualAddress | cursor.physicalAddress) & (leafSize &- 1) == 0,
      cursor.ready & (1 &<< UInt8(truncatingIfNeeded: level)) != 0
    else { return nil }
    let index = Int(truncatingIfNeeded: (cursor.virtualAddress &- base) &>> geometry.shift)
    // The slot belongs to this call's range, so no other operation changes it.
    guard view.load(index) == 0 else { return nil }
    guard reserve(view, 1) else { return .retry }
    let template = unsafe cursor.templates[unchecked: level]
    view.store(
      index,
      format.leafEntry(template: template, physicalAddress: cursor.physicalAddress, level: level))
    cursor.virtualAddress = cursor.end
    cursor.physicalAddress &+= leafSize
    return .done
  }

  /// The shortcut of an `unmap` whose range is exactly one plain leaf of the table
  /// `view` (of `level`, index 0 at `base`): clear it, report it, drop the table's
  /// count. `nil` sends every other case (a table, a hole, a contiguous run member,
  /// several entries) down the general path, ``removeInTable(_:level:base:start:end:sink:)``,
  /// which does the same for such a leaf.
  @inline(__always) @usableFromInline
  func removeSingleLeaf<Sink: RemovalSink & ~Copyable>(
    _ view: TableView, level: Int, base: UInt64, start: UInt64, end: UInt64, sink: inout Sink
  ) -> RemovalResult? {
    let geometry = plan(level)
    let leafSize = geometry.leafSize
    guard end &- start == leafSize, start & (leafSize &- 1) == 0 else { return nil }
    let index = Int(truncatingIfNeeded: (start &- base) &>> geometry.shift)
    let entry = view.load(index)
    guard format.kind(of: entry, level: level) == .leaf,
      geometry.contiguousRun <= 1 || !format.isContiguous(entry, level: level)
    else { return nil }
    view.store(index, 0)
    sink.removed(start: externalAddress(start), size: leafSize, granule: leafSize)
    let word = releaseEntries(view, 1)
    return RemovalResult(bytes: leafSize, emptied: word == 0 && level != 0, outOfMemory: false)
  }
}
