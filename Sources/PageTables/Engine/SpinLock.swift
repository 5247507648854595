import Synchronization

/// A minimal test-and-set lock for rare, short critical sections (the reclamation
/// list). It needs nothing from an operating system, so the engine stays usable on
/// bare metal.
final class SpinLock: @unchecked Sendable {
  private let held = Atomic<Bool>(false)

  init() {}

  func withLock<R>(_ body: () -> R) -> R {
    while true {
      if !held.load(ordering: .relaxed)
        && held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
      {
        break
      }
    }
    defer { held.store(false, ordering: .releasing) }
    return body()
  }
}
