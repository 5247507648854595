import PhysicalPages

/// A guided tour of the page layer, printed line by line: allocation, handing a page
/// out as a physical address and taking it back, a shared page's reference count, a
/// vmalloc buffer and the lookups that find its pages, and the allocator statistics.
///
/// ```swift
/// try PageLayerDemo.run { print($0) }
/// ```
public enum PageLayerDemo {
  /// Runs the tour on a fresh default machine, passing each line to `print`.
  public static func run(print: (String) -> Void) throws {
    let memory = try PhysicalMemory()
    let configuration = memory.configuration
    print(
      "machine: \(configuration.byteCount >> 20) MiB of \(memory.pageSize >> 10) KiB pages"
        + " at \(configuration.baseAddress), \(memory.frameCount) frames")

    let table = try memory.allocatePage(zeroed: true)
    print(
      "allocated a zeroed page: frame 0x\(String(table.frameNumber, radix: 16)) at \(table.physicalAddress)"
    )
    let block = try memory.allocatePages(order: 3)
    print("allocated an order-3 block: \(block.byteCount >> 10) KiB at \(block.physicalAddress)")

    let address = table.intoPhysicalAddress()
    print("handed the page out as physical address \(address) (still allocated, not freed)")
    try memory.withPage(at: address) { (page) throws(PageError) in
      try page.storeBytes(of: UInt64(0xdead_beef), at: 0)
    }
    print("borrowed it by address and wrote 0xdeadbeef into it")
    let owned = try unsafe Page(fromPhysicalAddress: address, in: memory)
    print(
      "took it back as an owned Page: reads 0x\(String(try owned.load(as: UInt64.self, at: 0), radix: 16))"
    )
    do {
      _ = try unsafe Page(fromPhysicalAddress: address, in: memory)
    } catch {
      print("taking it back twice is refused: \(error)")
    }

    let shared = SharedPage(sharing: owned)
    print("shared it: reference count \(shared.referenceCount)")
    _ = consume owned
    print("dropped the owned Page: reference count \(shared.referenceCount), page still allocated")

    var buffer = try memory.vmalloc(byteCount: 3 * memory.pageSize)
    try buffer.write(Array("hello, vmalloc".utf8), at: memory.pageSize - 5)
    let frames = buffer.frameNumbers.map { "0x" + String($0, radix: 16) }
    print("vmalloc buffer of \(buffer.pageCount) pages on frames \(frames.joined(separator: ", "))")
    let second = unsafe UnsafeRawPointer(buffer.unsafeBaseAddress) + memory.pageSize
    let found = try memory.withPage(vmallocAddress: second) { $0.physicalAddress }
    print("vmalloc_to_page(buffer + 1 page) -> \(found)")
    let tail = try memory.withPage(at: found) { (page) throws(PageError) in
      try page.read(at: 0, count: 9)
    }
    print("the direct map shows the same bytes: \"\(String(decoding: tail, as: UTF8.self))\"")

    let stats = memory.statistics()
    print(
      "statistics: \(stats.allocatedPages) pages allocated, \(stats.cachedPages) cached,"
        + " \(stats.freePages) free, high-water mark \(stats.highWaterMark)")
    print("leak report right now: \(memory.leakReport().entries.count) blocks allocated")
    _ = consume buffer
    _ = consume block
    _ = consume shared
    print("released everything: \(memory.leakReport().entries.count) blocks allocated")
  }
}
