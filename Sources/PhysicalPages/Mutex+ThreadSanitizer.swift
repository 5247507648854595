import CPageMemory
import Synchronization

extension Mutex where Value: ~Copyable {
  /// `withLock`, plus acquire/release annotations for ThreadSanitizer.
  ///
  /// `Mutex` on Linux waits with futexes inside the (uninstrumented) standard
  /// library, so ThreadSanitizer does not see it order the critical sections and
  /// reports false races on the protected value. The annotations (no-ops unless the
  /// TSan runtime is linked in) restore the happens-before edges. Public so the
  /// layers above (`PhysicalPageTables`' table cache) lock the same way.
  ///
  /// ```swift
  /// let counter = Mutex(0)
  /// counter.withAnnotatedLock { $0 += 1 }
  /// ```
  @inline(__always)
  public borrowing func withAnnotatedLock<R, E: Error>(
    _ body: (inout sending Value) throws(E) -> sending R
  ) throws(E) -> sending R {
    // SAFETY: the address only names the lock for TSan; it is never dereferenced.
    // A noncopyable value is borrowed in place, so the address is the mutex's own.
    let address = unsafe withUnsafePointer(to: self) { unsafe UnsafeRawPointer($0) }
    return try withLock { (value: inout sending Value) throws(E) -> sending R in
      unsafe cpm_tsan_acquire(address)
      defer { unsafe cpm_tsan_release(address) }
      return try body(&value)
    }
  }
}
