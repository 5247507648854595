import CPageMemory

/// A virtually contiguous buffer built from physically scattered order-0 pages
/// (the kernel's `vmalloc`), owned: dropping it unmaps the range and frees the pages.
///
/// Each page is a separate `MAP_FIXED | MAP_SHARED` mapping of its memfd frame, so
/// a write through the buffer is visible through the direct map and the reverse.
///
/// ```swift
/// var buffer = try memory.vmalloc(byteCount: 3 * 4096)
/// try buffer.write([1, 2, 3], at: 4095)          // crosses a page boundary
/// print(buffer.frameNumbers)                      // not consecutive
/// buffer.forEachPage { page in print(page.physicalAddress) }
/// ```
///
/// ## Invariants
/// - `frames[i]` is an allocated order-0 frame (one reference owned by this buffer)
///   mapped at `base + i * pageSize` for the buffer's lifetime.
/// - The machine's core is kept alive by the buffer (strong reference).
@safe public struct VmallocBuffer: ~Copyable {
  let core: MemoryCore
  let base: UnsafeMutableRawPointer
  let startPage: Int
  let frames: [Int]
  /// The requested size in bytes (the mapping is rounded up to whole pages).
  public let byteCount: Int

  init(
    core: MemoryCore, base: UnsafeMutableRawPointer, startPage: Int, frames: [Int],
    byteCount: Int
  ) {
    self.core = core
    unsafe self.base = base
    self.startPage = startPage
    self.frames = frames
    self.byteCount = byteCount
  }

  deinit {
    core.vmallocRelease(startPage: startPage, frames: frames)
  }

  /// The number of pages backing the buffer.
  public var pageCount: Int { frames.count }

  /// The page frame numbers of the buffer's pages, in virtual order.
  public var frameNumbers: [UInt64] { frames.map { core.frameNumber($0) } }

  /// The physical addresses of the buffer's pages, in virtual order.
  public var physicalAddresses: [PhysicalAddress] { frames.map { core.physicalAddress($0) } }

  /// Calls `body` with each page, in virtual order, borrowed (they stay the buffer's).
  public func forEachPage<E: Error>(_ body: (borrowing Page) throws(E) -> Void) throws(E) {
    for index in frames {
      try core.withBorrowedPage(index, order: 0, body)
    }
  }

  /// The start of the buffer's virtual range.
  ///
  /// - Safety: valid while the buffer lives; `byteCount` bytes from it are accessible
  ///   (`pageCount * pageSize` mapped). The caller must not race with other writers.
  @unsafe public var unsafeBaseAddress: UnsafeMutableRawPointer { unsafe base }

  /// Reads the buffer through a span of `byteCount` bytes.
  public func withBytes<R, E: Error>(_ body: (RawSpan) throws(E) -> R) throws(E) -> R {
    // SAFETY: the range is mapped for the buffer's lifetime, which outlives the call.
    let span = unsafe RawSpan(_unsafeStart: base, byteCount: byteCount)
    return try body(span)
  }

  /// Reads and writes the buffer through a mutable span of `byteCount` bytes.
  public mutating func withMutableBytes<R, E: Error>(
    _ body: (inout MutableRawSpan) throws(E) -> R
  ) throws(E) -> R {
    // SAFETY: the range is mapped for the buffer's lifetime; `mutating` gives this
    // call exclusive access through the buffer.
    var span = unsafe MutableRawSpan(_unsafeStart: base, byteCount: byteCount)
    return try body(&span)
  }

  /// Copies `count` bytes out from `offset`.
  public func read(at offset: Int, count: Int) throws(PageError) -> [UInt8] {
    try checkBounds(offset, count)
    // SAFETY: bounds checked above; the range is mapped.
    return unsafe Array(UnsafeRawBufferPointer(start: base + offset, count: count))
  }

  /// Copies `bytes` in at `offset`.
  public mutating func write(_ bytes: some Collection<UInt8>, at offset: Int) throws(PageError) {
    try checkBounds(offset, bytes.count)
    // SAFETY: bounds checked above; the range is mapped and this buffer is exclusive.
    let target = unsafe UnsafeMutableRawBufferPointer(start: base + offset, count: bytes.count)
    unsafe target.copyBytes(from: bytes)
  }

  private func checkBounds(_ offset: Int, _ count: Int) throws(PageError) {
    guard offset >= 0, count >= 0, offset <= byteCount - count else {
      throw .outOfBounds(
        frame: frames.isEmpty ? 0 : core.frameNumber(frames[0]), offset: offset, count: count,
        limit: byteCount)
    }
  }
}

extension PhysicalMemory {
  /// Allocates a virtually contiguous buffer of at least `byteCount` bytes from
  /// scattered order-0 pages, mapped into the vmalloc area.
  ///
  /// ```swift
  /// let buffer = try memory.vmalloc(byteCount: 10_000)  // 3 pages
  /// ```
  public func vmalloc(byteCount: Int, zeroed: Bool = true) throws(PageError) -> VmallocBuffer {
    try core.vmallocAllocate(byteCount: byteCount, zeroed: zeroed)
  }
}

extension MemoryCore {
  func vmallocAllocate(byteCount: Int, zeroed: Bool) throws(PageError) -> VmallocBuffer {
    guard byteCount > 0 else { throw .invalidByteCount(byteCount) }
    // Before any arithmetic or reservation: a buffer can be no larger than the
    // vmalloc area, nor hold more pages than RAM has.
    let limit = min(configuration.vmallocAreaByteCount, configuration.byteCount)
    guard byteCount <= limit else { throw .exceedsMachine(byteCount: byteCount, limit: limit) }
    let pageCount = byteCount / pageSize + (byteCount % pageSize == 0 ? 0 : 1)
    var frames: [Int] = []
    frames.reserveCapacity(pageCount)
    // Deliberately scatter the buffer physically: a spacer page is taken between
    // consecutive pages (and given back below), so no two pages are adjacent. Only
    // when RAM has room for both (pages in thread caches count as used here), so
    // spacers never make a buffer fail that would fit.
    let scatter = buddy.withAnnotatedLock { frameCount - $0.pagesInUse } >= 2 * pageCount
    var spacers: [Int] = []
    do {
      for position in 0..<pageCount {
        frames.append(try allocate(order: 0, zeroed: zeroed, site: nil))
        if scatter, position + 1 < pageCount,
          let spacer = try? allocate(order: 0, zeroed: false, site: nil, injectable: false)
        {
          spacers.append(spacer)
        }
      }
    } catch {
      for index in frames + spacers { putReference(index) }
      throw error
    }
    for index in spacers { putReference(index) }
    let mapped: Result<Int, PageError> = vmalloc.withAnnotatedLock { area in
      let start: Int
      do throws(PageError) { start = try area.allocateRange(pageCount: pageCount) } catch {
        return .failure(error)
      }
      guard let base = unsafe area.base else { fatalError("vmalloc area reserved: no base") }
      for (position, index) in frames.enumerated() {
        let address = unsafe base + (start + position) * pageSize
        // SAFETY: `address` lies in our reservation, in a range no buffer uses.
        guard unsafe cpm_map_shared_fixed(address, pageSize, fd, Int64(index * pageSize)) == 0
        else {
          let error = cpm_errno()
          _ = unsafe cpm_rereserve(base + start * pageSize, pageCount * pageSize)
          for earlier in 0..<position { area.setSlot(start + earlier, frameIndex: nil) }
          area.releaseRange(start: start, pageCount: pageCount)
          return .failure(.systemCallFailed("mmap(vmalloc page)", errno: error))
        }
        area.setSlot(start + position, frameIndex: index)
      }
      return .success(start)
    }
    switch mapped {
    case .success(let start):
      guard let base = unsafe vmalloc.withAnnotatedLock({ unsafe $0.base }) else {
        fatalError("vmalloc area reserved: no base")
      }
      return unsafe VmallocBuffer(
        core: self, base: base + start * pageSize, startPage: start, frames: frames,
        byteCount: byteCount)
    case .failure(let error):
      for index in frames { putReference(index) }
      throw error
    }
  }

  func vmallocRelease(startPage: Int, frames: [Int]) {
    vmalloc.withAnnotatedLock { area in
      guard let base = unsafe area.base else { fatalError("vmalloc area reserved: no base") }
      for position in frames.indices { area.setSlot(startPage + position, frameIndex: nil) }
      // SAFETY: the range belongs to the buffer being dropped; nothing uses it any more.
      let result = unsafe cpm_rereserve(base + startPage * pageSize, frames.count * pageSize)
      if result != 0 {
        fatalError("vmalloc unmap: mmap(PROT_NONE) failed, errno \(cpm_errno())")
      }
      area.releaseRange(start: startPage, pageCount: frames.count)
    }
    for index in frames { putReference(index) }
  }
}
