import Synchronization

/// Who is told when a block of a ``PhysicalMemory`` is freed: a test instrument
/// (an MMU model checking that no mapping still reaches the page) installs one with
/// ``PhysicalMemory/setFreeObserver(_:)``.
///
/// ```swift
/// let memory = try PhysicalMemory()
/// memory.setFreeObserver { address, byteCount in
///   print("freed \(address) (\(byteCount) bytes)")
/// }
/// let page = try memory.allocatePage()
/// _ = consume page                        // prints the page's address and 4096
/// memory.setFreeObserver(nil)
/// ```
///
/// The observer runs on the freeing thread, while the block is still allocated
/// (before it is poisoned or reaches a free list), and must not allocate or free
/// pages of the same machine. Without an observer a free pays one relaxed load.
public typealias FreeObserver = @Sendable (_ address: PhysicalAddress, _ byteCount: Int) -> Void

/// The installed ``FreeObserver`` of one machine, and a flag the free path reads
/// without a lock.
final class FreeObserverSlot: Sendable {
  let observer = Mutex<FreeObserver?>(nil)
  /// Whether an observer is installed: the only thing a free reads when none is.
  let armed = Atomic<Bool>(false)

  func set(_ new: FreeObserver?) {
    observer.withAnnotatedLock { $0 = new }
    armed.store(new != nil, ordering: .releasing)
  }

  /// Tells the observer, if one is installed, that `byteCount` bytes at `address`
  /// are being freed.
  @inline(__always)
  func notify(_ address: PhysicalAddress, byteCount: Int) {
    guard armed.load(ordering: .relaxed) else { return }
    tell(address, byteCount)
  }

  @inline(never)
  func tell(_ address: PhysicalAddress, _ byteCount: Int) {
    // Called outside the lock: the observer may take its own locks.
    guard let observer = observer.withAnnotatedLock({ $0 }) else { return }
    observer(address, byteCount)
  }
}

extension PhysicalMemory {
  /// Installs `observer` (replacing any other), told of every block freed from now
  /// on: its physical address and size, on the freeing thread, before the block
  /// goes back to the allocator. `nil` removes it. See ``FreeObserver``.
  public func setFreeObserver(_ observer: FreeObserver?) {
    core.freeObserver.set(observer)
  }
}
