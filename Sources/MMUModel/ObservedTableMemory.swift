import PageTables

/// Table memory that forwards to another and tells an observer (an ``MMU``) about
/// every table allocated and freed, so that a table freed or reused while the
/// hardware could still reach it is reported the moment it happens.
///
/// ```swift
/// let image = try ImageTableMemory(base: 0x4000_0000, byteCount: 1 << 20)
/// let mmu = try MMU(format: format, memory: image)
/// let table = try PageTable(format: format, memory: mmu.observing(image))
/// ```
///
/// Entry access goes straight to the base memory's views: the engine's walks cost
/// what they cost without the model.
public struct ObservedTableMemory<Base: TableMemory>: TableMemory {
  /// The memory that holds the tables.
  public let base: Base
  /// Who is told.
  public let observer: any TableEventObserver

  /// Memory forwarding to `base` and telling `observer` (``MMU/observing(_:)``).
  public init(_ base: Base, observer: any TableEventObserver) {
    self.base = base
    self.observer = observer
  }

  public func allocateTable(byteCount: Int) -> UInt64? {
    guard let address = base.allocateTable(byteCount: byteCount) else { return nil }
    observer.tableAllocated(physicalAddress: address, byteCount: UInt64(byteCount))
    return address
  }

  public func allocateTableForOverwrite(byteCount: Int) -> UInt64? {
    guard let address = base.allocateTableForOverwrite(byteCount: byteCount) else { return nil }
    observer.tableAllocated(physicalAddress: address, byteCount: UInt64(byteCount))
    return address
  }

  public func freeTable(at physicalAddress: UInt64, byteCount: Int) {
    observer.pageFreed(physicalAddress: physicalAddress, byteCount: UInt64(byteCount))
    base.freeTable(at: physicalAddress, byteCount: byteCount)
  }

  public func withTable<R>(at physicalAddress: UInt64, byteCount: Int, _ body: (TableView) -> R)
    -> R
  {
    base.withTable(at: physicalAddress, byteCount: byteCount, body)
  }

  @unsafe
  public func unsafeTable(at physicalAddress: UInt64, byteCount: Int) -> TableView {
    // SAFETY: the caller's obligations are the base memory's, passed on unchanged.
    unsafe base.unsafeTable(at: physicalAddress, byteCount: byteCount)
  }
}
