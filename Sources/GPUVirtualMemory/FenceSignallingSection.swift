import Synchronization

/// Marks the code that runs in the fence-signalling path (a bind's commit), where
/// nothing may allocate: Linux's `dma_fence_begin_signalling()` /
/// `dma_fence_end_signalling()` annotation, which lockdep uses to catch
/// allocations there.
///
/// ```swift
/// let section = FenceSignallingSection()
/// // an allocator that must not run during commit:
/// precondition(!section.isInside, "allocation in the fence-signalling path")
/// ```
///
/// A ``GPUVM`` enters its section for the whole of ``GPUVM/commit(_:)``; the table
/// memory and page source a test gives it can check ``isInside`` and trap.
public final class FenceSignallingSection: Sendable {
  let depth = Atomic<Int>(0)

  /// A section nobody is inside.
  public init() {}

  /// Whether a commit is running.
  public var isInside: Bool { depth.load(ordering: .acquiring) != 0 }

  /// Enters the section.
  func begin() { depth.wrappingAdd(1, ordering: .acquiringAndReleasing) }
  /// Leaves the section.
  func end() { depth.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
}
