import PageTables

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
