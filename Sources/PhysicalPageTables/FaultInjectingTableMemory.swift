import PageTables
import PhysicalPages
import Synchronization

/// Table memory that fails allocations on purpose: wraps any `TableMemory` and
/// makes its table allocations return `nil` (out of table memory) as a
/// `FaultInjection` policy says, so a driver's tests can check what every
/// operation does when table memory runs out at each possible point.
///
/// ```swift
/// let memory = FaultInjectingTableMemory(
///   try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20))
/// let table = try PageTable(format: RISCVFormat(.sv48), memory: memory)
/// memory.injectFaults(.failing(allocation: 2))   // the 2nd table allocation fails
/// do {
///   try table.map(virtualAddress: 0, physicalAddress: 0, size: 4096, protection: .readWrite)
/// } catch {
///   // .outOfTableMemory, and the table translates what it did before
/// }
/// ```
///
/// Everything else (freeing, table views) goes straight to the wrapped memory;
/// ``liveTables`` counts the tables allocated through the wrapper and not yet freed,
/// so a test can check that nothing is left allocated after cleanup. Copies share
/// one policy and one count. It lives here, beside the page layer's own
/// `PhysicalMemory.injectFaults(_:)`, rather than in the engine, which needs no
/// testing aids on bare metal.
public struct FaultInjectingTableMemory<Base: TableMemory>: TableMemory {
  /// The memory that holds the tables.
  public let base: Base
  /// Decides which allocations fail (shared by copies).
  public let injector: FaultInjector
  let counter: LiveTableCounter

  /// Wraps `base`, failing allocations as `policy` says (default: none until
  /// ``injectFaults(_:)`` is called).
  public init(_ base: Base, policy: FaultInjection = .never) {
    self.base = base
    self.injector = FaultInjector(policy)
    self.counter = LiveTableCounter()
  }

  /// Fails allocations from the next one on as `policy` says.
  public func injectFaults(_ policy: FaultInjection) {
    injector.setPolicy(policy)
  }

  /// Allocations counted and faults injected since the policy was set.
  public var faultInjectionCounts: FaultInjection.Counts { injector.counts }

  /// Tables allocated through this memory (or its copies) and not freed yet.
  public var liveTables: Int { counter.value }

  /// The wrapped memory's table, or `nil` when the policy fails this allocation.
  public func allocateTable(byteCount: Int) -> UInt64? {
    if injector.shouldFail() { return nil }
    return counted(base.allocateTable(byteCount: byteCount))
  }

  /// The wrapped memory's table for overwriting, or `nil` when the policy fails
  /// this allocation.
  public func allocateTableForOverwrite(byteCount: Int) -> UInt64? {
    if injector.shouldFail() { return nil }
    return counted(base.allocateTableForOverwrite(byteCount: byteCount))
  }

  /// Gives the table back to the wrapped memory.
  public func freeTable(at physicalAddress: UInt64, byteCount: Int) {
    counter.add(-1)
    base.freeTable(at: physicalAddress, byteCount: byteCount)
  }

  /// The wrapped memory's view of the table, for `body`.
  public func withTable<R>(at physicalAddress: UInt64, byteCount: Int, _ body: (TableView) -> R)
    -> R
  {
    base.withTable(at: physicalAddress, byteCount: byteCount, body)
  }

  /// The wrapped memory's view of the table.
  ///
  /// - Safety: as for `TableMemory.unsafeTable(at:byteCount:)`: only tables
  ///   allocated here and not freed, used while they stay allocated.
  @unsafe
  public func unsafeTable(at physicalAddress: UInt64, byteCount: Int) -> TableView {
    // SAFETY: the caller's obligation (the engine's) is passed on unchanged.
    unsafe base.unsafeTable(at: physicalAddress, byteCount: byteCount)
  }

  func counted(_ address: UInt64?) -> UInt64? {
    if address != nil { counter.add(1) }
    return address
  }
}

/// A shared count of live tables for ``FaultInjectingTableMemory``.
final class LiveTableCounter: Sendable {
  let count = Atomic<Int>(0)

  var value: Int { count.load(ordering: .acquiring) }

  func add(_ delta: Int) {
    count.wrappingAdd(delta, ordering: .acquiringAndReleasing)
  }
}
