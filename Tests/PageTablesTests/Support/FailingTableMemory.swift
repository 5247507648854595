import PageTables
import Synchronization

/// Table memory that fails chosen allocations: the fault injector for every
/// operation's out-of-memory path. Wraps an ``ImageTableMemory``.
final class FailingTableMemory: ForwardingTableMemory, @unchecked Sendable {
  let image: ImageTableMemory
  private let state = Mutex<(count: Int, failAt: Int?, failAll: Bool)>((0, nil, false))

  /// Memory of `byteCount` bytes at `base`; it does not declare its range (so the
  /// engine checks each table it gets).
  init(base: UInt64 = 0x4000_0000, byteCount: Int = 8 << 20) {
    image = try! ImageTableMemory(base: base, byteCount: byteCount)
  }

  /// Allocations made (or refused) so far.
  var allocations: Int { state.withLock { $0.count } }
  /// Makes allocation number `n` from now (1 is the next one) fail; nil stops failing.
  func failAllocation(_ n: Int?) {
    state.withLock { s in s.failAt = n.map { s.count + $0 } }
  }
  /// Makes every allocation from now fail (or stops doing so).
  func failEveryAllocation(_ on: Bool) { state.withLock { $0.failAll = on } }
  var liveTables: Int { image.liveTables }

  private func admit() -> Bool {
    state.withLock { s in
      s.count += 1
      return !(s.failAll || s.count == s.failAt)
    }
  }

  func allocateTable(byteCount: Int) -> UInt64? {
    admit() ? image.allocateTable(byteCount: byteCount) : nil
  }
  func allocateTableForOverwrite(byteCount: Int) -> UInt64? {
    admit() ? image.allocateTableForOverwrite(byteCount: byteCount) : nil
  }
}

/// Test table memory that allocates its own way but frees and reaches tables
/// through an ``ImageTableMemory``.
protocol ForwardingTableMemory: TableMemory {
  var image: ImageTableMemory { get }
}

extension ForwardingTableMemory {
  func freeTable(at physicalAddress: UInt64, byteCount: Int) {
    image.freeTable(at: physicalAddress, byteCount: byteCount)
  }
  func withTable<R>(at physicalAddress: UInt64, byteCount: Int, _ body: (TableView) -> R) -> R {
    image.withTable(at: physicalAddress, byteCount: byteCount, body)
  }
  @unsafe func unsafeTable(at physicalAddress: UInt64, byteCount: Int) -> TableView {
    unsafe image.unsafeTable(at: physicalAddress, byteCount: byteCount)
  }
}
