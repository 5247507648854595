import PageTables
import Testing

/// Where the leaf translating an address lives: its table and index.
struct LeafSlot {
  var table: UInt64
  var index: Int
  var tableBytes: Int
}

/// The slot of the leaf that translates `virtualAddress` in `rig`'s table (walked
/// through the image); fails the test if nothing maps it.
func leafSlot<Format: PageTableFormat>(_ rig: Rig<Format>, virtualAddress: UInt64) throws
  -> LeafSlot
{
  let format = rig.table.format
  var table = rig.table.rootAddress()
  for level in 0..<rig.table.depth {
    let shape = rig.table.level(level)
    let index = Int((virtualAddress >> UInt64(shape.shift)) & UInt64(shape.entryCount - 1))
    let current = try #require(rig.image.readWord(at: table + UInt64(index) * 8))
    switch format.kind(of: current, level: level) {
    case .empty: break
    case .table:
      table = format.tableAddress(of: current, level: level)
      continue
    case .leaf: return LeafSlot(table: table, index: index, tableBytes: shape.tableBytes)
    }
    break
  }
  Issue.record("nothing maps \(virtualAddress)")
  throw LeafSlotError.unmapped
}

/// Nothing maps the address asked for.
enum LeafSlotError: Error { case unmapped }

/// Writes `entry` into `slot` of `rig`'s image, as a driver's own table code would.
func store<Format: PageTableFormat>(_ rig: Rig<Format>, _ slot: LeafSlot, _ entry: UInt64) {
  rig.image.withTable(at: slot.table, byteCount: slot.tableBytes) { $0.store(slot.index, entry) }
}

/// Overwrites the leaf the engine reads for `virtualAddress`, as corrupt memory or a
/// debugger would (the model is not told).
func overwriteLeaf<Format: PageTableFormat>(
  _ rig: Rig<Format>, virtualAddress: UInt64, with entry: UInt64
) throws {
  store(rig, try leafSlot(rig, virtualAddress: virtualAddress), entry)
}
