import PageTables

/// The tables a VM has reserved for its binds, and the counts behind its leak
/// report. Used by one VM, which serialises every call (hence `@unchecked Sendable`).
///
/// ## Invariants
/// - Every table on a free stack is zeroed (entries and bookkeeping word),
///   allocated from the base memory, and reachable from no page table.
/// - While `committing`, tables come only from the stacks; running dry is a broken
///   reservation and traps.
final class TablePool: @unchecked Sendable {
  /// Free, zeroed tables by size: (bytes, addresses).
  var stacks: [(bytes: Int, addresses: [UInt64])] = []
  /// Whether a commit is running (allocations must come from the stacks).
  var committing = false
  /// Tables handed to the engine and not yet given back.
  var tablesInUse = 0
  /// Tables allocated from the base memory over the pool's life.
  var allocatedFromBase = 0
  /// Tables given back to the base memory over the pool's life.
  var freedToBase = 0
  /// Free tables kept per size after a bind, for the next one.
  let cacheLimit: Int

  /// Gives a table back to the base memory.
  let giveBack: @Sendable (UInt64, Int) -> Void

  init(cacheLimit: Int, giveBack: @escaping @Sendable (UInt64, Int) -> Void) {
    self.cacheLimit = cacheLimit
    self.giveBack = giveBack
  }

  deinit {
    // The page table went first (it holds this pool through its memory), so no
    // table here can be reached any more.
    for stack in stacks {
      for table in stack.addresses { giveBack(table, stack.bytes) }
    }
  }

  /// The index of the stack for `bytes`, made if missing.
  func stackIndex(_ bytes: Int) -> Int {
    if let i = stacks.firstIndex(where: { $0.bytes == bytes }) { return i }
    stacks.append((bytes, []))
    return stacks.count - 1
  }

  /// Free tables of `bytes` bytes on the stack.
  func available(_ bytes: Int) -> Int {
    stacks.first(where: { $0.bytes == bytes })?.addresses.count ?? 0
  }

  /// Takes a free table of `bytes` bytes, if one is there.
  func take(_ bytes: Int) -> UInt64? {
    for i in stacks.indices where stacks[i].bytes == bytes {
      return stacks[i].addresses.popLast()
    }
    return nil
  }
}

/// Table memory that serves a VM's page table from tables reserved before a
/// commit, so that the commit allocates nothing.
///
/// ```swift
/// let memory = ReservedTableMemory(PhysicalPageTableMemory(ram))
/// let table = try PageTable(format: AppleUATFormat(), memory: memory)
/// ```
///
/// Outside a commit it passes allocations through to `base` (taking a cached
/// free table first); during a commit it hands out only reserved tables, and
/// running out traps with the name of the broken invariant (the reservation's
/// worst case was wrong), never silently allocating. Freed tables (all zero, by
/// the engine's invariant) are kept for the next bind up to a limit, then given
/// back to `base`.
public struct ReservedTableMemory<Base: TableMemory>: TableMemory {
  /// Where tables really come from.
  public let base: Base
  let pool: TablePool

  /// Reserved tables over `base`, keeping up to `cachedTables` free tables per
  /// size between binds.
  public init(_ base: Base, cachedTables: Int = 16) {
    self.base = base
    self.pool = TablePool(cacheLimit: cachedTables) { table, bytes in
      base.freeTable(at: table, byteCount: bytes)
    }
  }

  /// A zeroed table: a reserved or cached one, or (outside a commit) one from `base`.
  public func allocateTable(byteCount: Int) -> UInt64? {
    if let table = pool.take(byteCount) {
      pool.tablesInUse += 1
      return table
    }
    guard !pool.committing else {
      fatalError(
        "ReservedTableMemory: a commit needed a \(byteCount)-byte table that prepare did not reserve"
      )
    }
    guard let table = base.allocateTable(byteCount: byteCount) else { return nil }
    pool.allocatedFromBase += 1
    pool.tablesInUse += 1
    return table
  }

  /// Keeps the (zeroed) table for the next bind, or gives it back to `base`.
  public func freeTable(at physicalAddress: UInt64, byteCount: Int) {
    pool.tablesInUse -= 1
    let i = pool.stackIndex(byteCount)
    if pool.stacks[i].addresses.count < pool.cacheLimit {
      // The engine frees only empty tables; what it left in the bookkeeping word
      // (the dead mark, bit 63) must not reach the next user. Engine request, still
      // open: unlinked tables reach `freeTable` with the dead mark set (the engine
      // clears the word only for tables it never published and at teardown); if
      // the engine cleared it before freeing, this store could go.
      base.withTable(at: physicalAddress, byteCount: byteCount) { $0.setWord(0) }
      pool.stacks[i].addresses.append(physicalAddress)
    } else {
      base.freeTable(at: physicalAddress, byteCount: byteCount)
      pool.freedToBase += 1
    }
  }

  /// The base memory's view of the table.
  public func withTable<R>(at physicalAddress: UInt64, byteCount: Int, _ body: (TableView) -> R)
    -> R
  {
    base.withTable(at: physicalAddress, byteCount: byteCount, body)
  }

  /// The base memory's view of the table.
  ///
  /// - Safety: as `TableMemory.unsafeTable(at:byteCount:)`: the address is a table
  ///   this memory handed out and has not freed, and the view is used only while
  ///   it stays allocated (the base memory's own contract).
  @unsafe
  public func unsafeTable(at physicalAddress: UInt64, byteCount: Int) -> TableView {
    unsafe base.unsafeTable(at: physicalAddress, byteCount: byteCount)
  }

  /// Tables handed to the page table and not given back.
  public var tablesInUse: Int { pool.tablesInUse }
  /// Free tables held for the next binds.
  public var reservedTables: Int { pool.stacks.reduce(0) { $0 + $1.addresses.count } }

  /// Makes sure `count` free tables of `byteCount` bytes are held; returns how
  /// many were allocated from `base` for that, or nil (having given those back)
  /// when `base` ran out.
  func reserve(_ count: Int, byteCount: Int) -> Int? {
    let i = pool.stackIndex(byteCount)
    var added = 0
    while pool.stacks[i].addresses.count < count {
      guard let table = base.allocateTable(byteCount: byteCount) else {
        release(added, byteCount: byteCount)
        return nil
      }
      pool.allocatedFromBase += 1
      pool.stacks[i].addresses.append(table)
      added += 1
    }
    return added
  }

  /// Gives `count` free tables of `byteCount` bytes back to `base`.
  func release(_ count: Int, byteCount: Int) {
    let i = pool.stackIndex(byteCount)
    for _ in 0..<count {
      guard let table = pool.stacks[i].addresses.popLast() else { return }
      base.freeTable(at: table, byteCount: byteCount)
      pool.freedToBase += 1
    }
  }

  /// Gives free tables beyond the cache limit back to `base` (all of them with
  /// `keeping: 0`).
  func trim(keeping limit: Int) {
    for i in pool.stacks.indices {
      while pool.stacks[i].addresses.count > limit, let table = pool.stacks[i].addresses.popLast() {
        base.freeTable(at: table, byteCount: pool.stacks[i].bytes)
        pool.freedToBase += 1
      }
    }
  }
}
