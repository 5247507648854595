/// The buffers a commit writes, by address and capacity: taken as a commit starts
/// and as it ends, so that tests can show that a commit never grew or copied one
/// (growing or copying is the only way it could allocate on the heap).
struct CommitStorage: Equatable {
  /// A buffer's identity: where it is and how many elements it holds.
  struct Buffer: Equatable {
    var address: UInt
    var capacity: Int

    init<Element>(_ array: [Element]) {
      // SAFETY: the pointer is only turned into a number, never dereferenced.
      address = unsafe array.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
      capacity = array.capacity
    }
  }

  /// Unlinked tables the gather holds without allocating.
  var gatherCapacity: Int
  /// The lists' heap parts.
  var unpins: Buffer
  var kept: Buffer
  var touched: Buffer
  /// The VA tree's nodes.
  var nodes: Buffer
  /// The VM–BO links' capacity.
  var links: Int
}

extension GPUVM {
  /// The buffers `handler` and the VM are about to write (or just wrote).
  func commitStorage<F, B>(_ handler: borrowing CommitHandler<F, B>) -> CommitStorage {
    CommitStorage(
      gatherCapacity: handler.gather.freedTableCapacity,
      unpins: .init(handler.lists.unpins.spilled), kept: .init(handler.lists.kept.spilled),
      touched: .init(handler.lists.touched.spilled), nodes: .init(space.tree.nodes),
      links: links.capacity)
  }
}
