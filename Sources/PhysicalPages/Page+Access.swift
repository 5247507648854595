import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Byte access to a page's block through the direct map.
///
/// Every offset is checked against ``Page/byteCount``; a bad one throws
/// ``PageError/outOfBounds(frame:offset:count:limit:)``.
///
/// ## Aliasing contract
/// Methods take the page `borrowing`, yet write: the bytes live in the machine's
/// memory, not in the `Page` value, and other owners (``SharedPage`` copies, borrows
/// through `PhysicalMemory.withPage(at:_:)`, a ``VmallocBuffer`` view, hardware)
/// may reach the same bytes. As with the kernel's pages, callers that share a block
/// across threads must order their accesses themselves (a lock, or a hand-off that
/// synchronises); concurrent unsynchronised writes to the same bytes are a data race.
extension Page {
  /// Reads the whole block through a span.
  ///
  /// ```swift
  /// let first = page.withBytes { unsafe $0.unsafeLoad(as: UInt8.self) }
  /// ```
  public func withBytes<R, E: Error>(_ body: (RawSpan) throws(E) -> R) throws(E) -> R {
    // SAFETY: the block is allocated while this page is held, so its bytes stay mapped.
    let span = unsafe RawSpan(_unsafeStart: unsafeMutableBytes, byteCount: byteCount)
    return try body(span)
  }

  /// Reads and writes the whole block through a mutable span (`with_page_mapped`).
  /// See the aliasing contract above.
  ///
  /// ```swift
  /// page.withMappedBytes { bytes in bytes.storeBytes(of: UInt64(7), toByteOffset: 0, as: UInt64.self) }
  /// ```
  public func withMappedBytes<R, E: Error>(_ body: (inout MutableRawSpan) throws(E) -> R)
    throws(E) -> R
  {
    // SAFETY: the block is allocated while this page is held, so its bytes stay
    // mapped; exclusivity among owners is the caller's (see the aliasing contract).
    var span = unsafe MutableRawSpan(_unsafeStart: unsafeMutableBytes, byteCount: byteCount)
    return try body(&span)
  }

  /// Calls `body` with a pointer to `count` bytes at `offset` of the block
  /// (`with_pointer_into_page`), after checking the range.
  ///
  /// ```swift
  /// try page.withPointer(into: 8, count: 8) { unsafe $0.storeBytes(of: UInt64(1), as: UInt64.self) }
  /// ```
  @safe
  public func withPointer<R>(
    into offset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer) throws(PageError) -> R
  ) throws(PageError) -> R {
    try checkBounds(offset, count)
    // SAFETY: the range was checked to lie in the block, which stays allocated.
    let buffer = unsafe UnsafeMutableRawBufferPointer(
      start: unsafeMutableBytes + offset, count: count)
    return try unsafe body(buffer)
  }

  /// Copies `count` bytes out from `offset`.
  public func read(at offset: Int, count: Int) throws(PageError) -> [UInt8] {
    try checkBounds(offset, count)
    // SAFETY: bounds checked; the block stays mapped.
    return unsafe Array(UnsafeRawBufferPointer(start: unsafeMutableBytes + offset, count: count))
  }

  /// Loads a value of a bit-copyable type from `offset` (any alignment).
  public func load<T: BitwiseCopyable>(as type: T.Type, at offset: Int) throws(PageError) -> T {
    try checkBounds(offset, MemoryLayout<T>.size)
    // SAFETY: bounds checked; unaligned load of a bit-copyable type.
    return unsafe unsafeMutableBytes.loadUnaligned(fromByteOffset: offset, as: T.self)
  }

  /// Stores a value of a bit-copyable type at `offset` (any alignment).
  public func storeBytes<T: BitwiseCopyable>(of value: T, at offset: Int) throws(PageError) {
    try checkBounds(offset, MemoryLayout<T>.size)
    // SAFETY: bounds checked; unaligned store of a bit-copyable type.
    unsafe unsafeMutableBytes.storeBytes(of: value, toByteOffset: offset, as: T.self)
  }

  /// Copies `bytes` in at `offset`.
  public func write(_ bytes: some Collection<UInt8>, at offset: Int) throws(PageError) {
    try checkBounds(offset, bytes.count)
    // SAFETY: bounds checked; the block stays mapped.
    let target = unsafe UnsafeMutableRawBufferPointer(
      start: unsafeMutableBytes + offset, count: bytes.count)
    unsafe target.copyBytes(from: bytes)
  }

  /// Copies the bytes of a span in at `offset`.
  public func write(_ bytes: RawSpan, at offset: Int) throws(PageError) {
    try copy(from: bytes, at: offset)
  }

  /// Copies the bytes of a span in at `offset` (`copy_from_user_slice`).
  public func copy(from source: RawSpan, at offset: Int) throws(PageError) {
    try checkBounds(offset, source.byteCount)
    let target = unsafe unsafeMutableBytes + offset
    unsafe source.withUnsafeBytes { bytes in
      // SAFETY: bounds checked; source and target may not overlap in a way that
      // matters for memmove.
      if let start = bytes.baseAddress {
        _ = unsafe memmove(target, start, bytes.count)
      }
    }
  }

  /// Zeroes `range` of the block.
  public func fillZero(_ range: Range<Int>) throws(PageError) {
    // Not `range.count`, which traps when the bounds are far apart (Int.min..<Int.max);
    // a wrapped difference is negative and refused.
    try checkBounds(range.lowerBound, range.upperBound &- range.lowerBound)
    // SAFETY: bounds checked; the block stays mapped.
    _ = unsafe memset(unsafeMutableBytes + range.lowerBound, 0, range.count)
  }

  /// Zeroes the whole block.
  public func fillZero() {
    // SAFETY: the whole block is mapped while this page is held.
    _ = unsafe memset(unsafeMutableBytes, 0, byteCount)
  }

  /// The direct-map address of the block's first byte (for hot paths such as a
  /// page-table engine writing entries).
  ///
  /// - Safety: the pointer is valid for `byteCount` bytes only while the block stays
  ///   allocated (while some owner holds it); the caller must not access past the
  ///   block nor race with other writers of the same bytes.
  @unsafe
  public var unsafeMutableBytes: UnsafeMutableRawPointer {
    unsafe core.directMapAddress(index)
  }

  /// The descriptor's private word, free for the page's current user (page tables
  /// keep their live-entry count there). It is zero when the block is allocated.
  ///
  /// - Safety: valid only while the block stays allocated; the word's meaning is
  ///   owned by whoever owns the page, and must not be used after the page is freed
  ///   (the allocator reuses it for its free lists).
  @unsafe
  public var unsafePrivateWord: UnsafeMutablePointer<Atomic<UInt64>> {
    // SAFETY: `privateWord` is the descriptor's third stored property, at byte offset
    // 8 (two 4-byte atomics before it; a test pins the 16-byte layout).
    let raw = unsafe UnsafeMutableRawPointer(core.descriptor(index))
    return unsafe (raw + PageDescriptor.privateWordOffset).assumingMemoryBound(
      to: Atomic<UInt64>.self)
  }

  private func checkBounds(_ offset: Int, _ count: Int) throws(PageError) {
    let limit = byteCount
    guard offset >= 0, count >= 0, offset <= limit - count else {
      throw .outOfBounds(frame: frameNumber, offset: offset, count: count, limit: limit)
    }
  }
}
