/// Borrowing a page with a closure that throws the caller's own errors.
///
/// The checked borrows (`PhysicalMemory.withPage(at:_:)` and the lookups) can
/// fail themselves with a ``PageError``, so their closures throw `PageError` and so
/// do they. These overloads take a closure with any thrown type — plain `try`, the
/// caller's own error enum, or none — and throw whichever error ended the call: the
/// lookup's `PageError` or the closure's error, unchanged. A closure that throws
/// `PageError` (or nothing) still gets the typed overload.
///
/// ```swift
/// struct Corrupt: Error {}
/// let tag = try memory.withPage(at: address) { page in
///   let tag = try page.load(as: UInt32.self, at: 0)   // PageError
///   guard tag != 0 else { throw Corrupt() }             // the caller's own error
///   return tag
/// }
/// ```
extension PhysicalMemory {
  /// Borrows the allocated block at `address` for `body`, which may throw any error
  /// (see `withPage(at:_:)` for the checks).
  ///
  /// - Throws: the lookup's ``PageError``, or the error `body` threw.
  @_disfavoredOverload
  public func withPage<R, E: Error>(
    at address: PhysicalAddress, _ body: (borrowing Page) throws(E) -> R
  ) throws -> R {
    try withPage(at: address) { (page: borrowing Page) throws(PageError) in capture(page, body) }
      .get()
  }

  /// `virt_to_page` with a closure that may throw any error (see
  /// `withPage(directMapAddress:_:)`).
  ///
  /// - Throws: the lookup's ``PageError``, or the error `body` threw.
  @_disfavoredOverload @safe
  public func withPage<R, E: Error>(
    directMapAddress address: UnsafeRawPointer, _ body: (borrowing Page) throws(E) -> R
  ) throws -> R {
    try withPage(directMapAddress: address) { (page: borrowing Page) throws(PageError) in
      capture(page, body)
    }.get()
  }

  /// `vmalloc_to_page` with a closure that may throw any error (see
  /// `withPage(vmallocAddress:_:)`).
  ///
  /// - Throws: the lookup's ``PageError``, or the error `body` threw.
  @_disfavoredOverload @safe
  public func withPage<R, E: Error>(
    vmallocAddress address: UnsafeRawPointer, _ body: (borrowing Page) throws(E) -> R
  ) throws -> R {
    try withPage(vmallocAddress: address) { (page: borrowing Page) throws(PageError) in
      capture(page, body)
    }.get()
  }

  /// `page_slice_to_page` with a closure that may throw any error (see
  /// `withPage(slice:_:)`).
  ///
  /// - Throws: the lookup's ``PageError``, or the error `body` threw.
  @_disfavoredOverload @safe
  public func withPage<R, E: Error>(
    slice: UnsafeRawBufferPointer, _ body: (borrowing Page) throws(E) -> R
  ) throws -> R {
    try withPage(slice: slice) { (page: borrowing Page) throws(PageError) in capture(page, body) }
      .get()
  }
}

extension Page {
  /// `with_pointer_into_page` with a closure that may throw any error (see
  /// `withPointer(into:count:_:)`).
  ///
  /// - Throws: ``PageError/outOfBounds(frame:offset:count:limit:)`` for a range
  ///   outside the block, or the error `body` threw.
  @_disfavoredOverload @safe
  public func withPointer<R, E: Error>(
    into offset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
  ) throws -> R {
    try withPointer(into: offset, count: count) {
      (buffer: UnsafeMutableRawBufferPointer) throws(PageError) in
      Result { () throws(E) in try unsafe body(buffer) }
    }.get()
  }
}

/// Runs `body` on a borrowed page and keeps its outcome, error included, as a value,
/// so that a lookup typed `throws(PageError)` can carry a closure's other errors out.
@inline(__always)
private func capture<R, E: Error>(
  _ page: borrowing Page, _ body: (borrowing Page) throws(E) -> R
) -> Result<R, E> {
  do throws(E) {
    return .success(try body(page))
  } catch {
    return .failure(error)
  }
}
