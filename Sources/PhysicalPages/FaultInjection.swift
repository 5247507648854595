import Synchronization

/// When an allocator should pretend to be out of memory: a policy for testing how
/// code copes with allocation failure (its error path, its rollback, its cleanup).
///
/// ```swift
/// let memory = try PhysicalMemory()
/// memory.injectFaults(.failing(allocation: 3))   // the 3rd allocation from now fails
/// let a = try memory.allocatePage()              // 1st: fine
/// let b = try memory.allocatePage()              // 2nd: fine
/// _ = try? memory.allocatePage()                 // 3rd: throws .outOfMemory(order: 0)
/// memory.injectFaults(.never)                    // back to normal
/// ```
///
/// A failure looks exactly like a real one (``PageError/outOfMemory(order:)`` from
/// ``PhysicalMemory``, `nil` from a table memory wrapped in
/// `FaultInjectingTableMemory`), so the code under test runs its real error path.
/// Allocations are counted from the moment the policy is set, starting at 1.
/// Random failures come from a seeded generator, so a failing run repeats exactly
/// (on one thread; with several threads the order of allocations varies).
public struct FaultInjection: Sendable, Equatable, CustomStringConvertible {
  enum Rule: Sendable, Equatable {
    case never
    case only(Int)
    case from(Int)
    case random(perMillion: UInt64, seed: UInt64)
  }

  let rule: Rule

  /// No allocation fails (the default).
  public static var never: FaultInjection { FaultInjection(rule: .never) }

  /// Only allocation number `n` (1 is the next one) fails; `n < 1` fails none.
  public static func failing(allocation n: Int) -> FaultInjection {
    FaultInjection(rule: n < 1 ? .never : .only(n))
  }

  /// Allocation number `n` and every later one fail (the allocator is exhausted
  /// from then on); `n < 1` means from the next one.
  public static func failing(fromAllocation n: Int) -> FaultInjection {
    FaultInjection(rule: .from(max(n, 1)))
  }

  /// Each allocation fails with `probability` (clamped to 0...1), drawn from a
  /// generator seeded with `seed`.
  public static func failing(probability: Double, seed: UInt64) -> FaultInjection {
    let clamped = probability.isNaN ? 0 : min(max(probability, 0), 1)
    return FaultInjection(rule: .random(perMillion: UInt64(clamped * 1_000_000), seed: seed))
  }

  /// The policy in words, for test failure messages.
  public var description: String {
    switch rule {
    case .never: return "never fail"
    case .only(let n): return "fail allocation \(n)"
    case .from(let n): return "fail allocation \(n) and later"
    case .random(let perMillion, let seed):
      return "fail with probability \(Double(perMillion) / 1_000_000) (seed \(seed))"
    }
  }

  /// What a fault injector has seen since its policy was set.
  public struct Counts: Sendable, Equatable {
    /// Allocations asked for.
    public var allocations: Int
    /// Allocations made to fail.
    public var injectedFaults: Int

    /// Counts with the given values.
    public init(allocations: Int = 0, injectedFaults: Int = 0) {
      self.allocations = allocations
      self.injectedFaults = injectedFaults
    }
  }
}

/// The state behind a ``FaultInjection`` policy: counts allocations and decides
/// which fail. Thread-safe; shared by every copy of what it is attached to.
///
/// ```swift
/// let injector = FaultInjector(.failing(probability: 0.01, seed: 42))
/// if injector.shouldFail() { return nil }   // in an allocator
/// print(injector.counts.injectedFaults)
/// ```
public final class FaultInjector: Sendable {
  struct State {
    var policy: FaultInjection
    var counts = FaultInjection.Counts()
    var random: UInt64
  }

  let state: Mutex<State>
  /// Whether the policy can fail anything: the allocator's fast path reads only this.
  let armed: Atomic<Bool>

  /// An injector following `policy`.
  public init(_ policy: FaultInjection = .never) {
    state = Mutex(State(policy: policy, random: Self.seed(of: policy)))
    armed = Atomic(policy != .never)
  }

  /// Replaces the policy and starts counting again from zero.
  public func setPolicy(_ policy: FaultInjection) {
    state.withAnnotatedLock { state in
      state = State(policy: policy, random: Self.seed(of: policy))
    }
    armed.store(policy != .never, ordering: .releasing)
  }

  /// The current policy.
  public var policy: FaultInjection { state.withAnnotatedLock { $0.policy } }

  /// Allocations seen and faults injected since the policy was set.
  public var counts: FaultInjection.Counts { state.withAnnotatedLock { $0.counts } }

  /// Counts one allocation; true when the policy says it fails.
  @inline(__always)
  public func shouldFail() -> Bool {
    guard armed.load(ordering: .acquiring) else { return false }
    return decide()
  }

  @inline(never)
  func decide() -> Bool {
    state.withAnnotatedLock { state in
      state.counts.allocations += 1
      let n = state.counts.allocations
      let fails: Bool
      switch state.policy.rule {
      case .never: fails = false
      case .only(let target): fails = n == target
      case .from(let first): fails = n >= first
      case .random(let perMillion, _):
        fails = Self.nextRandom(&state.random) % 1_000_000 < perMillion
      }
      if fails { state.counts.injectedFaults += 1 }
      return fails
    }
  }

  static func seed(of policy: FaultInjection) -> UInt64 {
    if case .random(_, let seed) = policy.rule { return seed }
    return 0
  }

  /// SplitMix64: a small, well-mixed generator (Steele, Lea and Flood, 2014).
  static func nextRandom(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension PhysicalMemory {
  /// Makes this machine's allocations fail as `policy` says, counting from the
  /// next one (every allocation counts: pages, blocks, a vmalloc buffer's pages,
  /// tables on pages). ``FaultInjection/never`` turns injection off.
  ///
  /// ```swift
  /// memory.injectFaults(.failing(allocation: 2))
  /// ```
  public func injectFaults(_ policy: FaultInjection) {
    core.faults.setPolicy(policy)
  }

  /// The allocations counted and faults injected since ``injectFaults(_:)``.
  public var faultInjectionCounts: FaultInjection.Counts { core.faults.counts }
}
