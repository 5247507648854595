/// Finding the page behind a virtual address, for pages that were never handed to
/// the caller as a ``Page``: `virt_to_page`, `vmalloc_to_page`, `page_slice_to_page`.
///
/// Pointers are only compared against the machine's ranges, never dereferenced, so
/// these functions are safe to call with any pointer. Each lends the allocated block
/// containing the page (an address inside a larger block resolves to the whole
/// block, like `compound_head`) for the duration of `body`.
///
/// ```swift
/// let buffer = try memory.vmalloc(byteCount: 8192)
/// let second = unsafe buffer.unsafeBaseAddress + 4096
/// let frame = try memory.withPage(vmallocAddress: second) { $0.frameNumber }
/// ```
///
/// The lookup is a snapshot: the caller must keep the page allocated (own it or the
/// buffer that maps it) while `body` runs.
extension PhysicalMemory {
  /// `virt_to_page`: the page at a direct-map address (any byte of it).
  @safe
  public func withPage<R>(
    directMapAddress address: UnsafeRawPointer, _ body: (borrowing Page) throws(PageError) -> R
  ) throws(PageError) -> R {
    let value = UInt(bitPattern: address)
    guard let index = core.directMapIndex(of: value) else {
      throw .addressNotMapped(address: value)
    }
    return try withAllocatedBlock(containing: index, body)
  }

  /// `vmalloc_to_page`: the page mapped at a vmalloc-area address (any byte of it).
  @safe
  public func withPage<R>(
    vmallocAddress address: UnsafeRawPointer, _ body: (borrowing Page) throws(PageError) -> R
  ) throws(PageError) -> R {
    let value = UInt(bitPattern: address)
    let lookup: Result<Int, PageError> = core.vmalloc.withAnnotatedLock { area in
      guard let page = area.virtualPage(of: value) else {
        return .failure(.addressNotMapped(address: value))
      }
      guard let index = area.frameIndex(atVirtualPage: page) else {
        return .failure(.vmallocAddressNotMapped(address: value))
      }
      return .success(index)
    }
    return try withAllocatedBlock(containing: lookup.get(), body)
  }

  /// `page_slice_to_page`: the page exactly covered by `slice` (page-aligned, one
  /// page long), found in the direct map or the vmalloc area.
  @safe
  public func withPage<R>(
    slice: UnsafeRawBufferPointer, _ body: (borrowing Page) throws(PageError) -> R
  ) throws(PageError) -> R {
    let value = UInt(bitPattern: slice.baseAddress)
    guard value % UInt(pageSize) == 0, value != 0 else {
      throw .misalignedPointer(address: value)
    }
    guard slice.count == pageSize else {
      throw .wrongSliceSize(address: value, count: slice.count)
    }
    if core.directMapIndex(of: value) != nil {
      return try withPage(directMapAddress: unsafe UnsafeRawPointer(slice.baseAddress!), body)
    }
    return try withPage(vmallocAddress: unsafe UnsafeRawPointer(slice.baseAddress!), body)
  }

  private func withAllocatedBlock<R>(
    containing index: Int, _ body: (borrowing Page) throws(PageError) -> R
  ) throws(PageError) -> R {
    guard let block = core.allocatedBlock(containing: index) else {
      throw .pageNotAllocated(frame: core.frameNumber(index))
    }
    return try core.withBorrowedPage(block.head, order: block.order, body)
  }
}

extension MemoryCore {
  /// The frame index whose direct-map page contains `address`, if any.
  func directMapIndex(of address: UInt) -> Int? {
    let start = UInt(bitPattern: unsafe directMap)
    guard address >= start, address - start < UInt(configuration.byteCount) else { return nil }
    return Int(address - start) >> pageShift
  }
}
