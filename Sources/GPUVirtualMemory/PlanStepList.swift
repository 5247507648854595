/// The ordered steps of a ``GPUVAPlan``: the first ``inlineCapacity`` stored in
/// the value itself, any further ones in an array, so planning the common
/// requests allocates nothing.
///
/// ```swift
/// let plan = try space.planMap(MapRequest(address: 0x4000, range: 0x4000,
///                                         backing: .object(BufferObjectID(1), offset: 0)))
/// plan.steps.count           // 1: a map into a hole
/// plan.steps.isAllocated     // false
/// for step in plan.steps { print(step) }
/// ```
///
/// `drm_gpuvm_sm_map` yields at most a remap of the VA the request starts in, any
/// number of unmaps of VAs wholly inside it, a remap of the VA it ends in, and the
/// map. A bind into a hole (one step), over or into one VA (two steps), an unbind
/// of one or two VAs, keep their steps inline; a request that cuts into VAs on
/// both sides or covers more spills to the heap. (Two inline steps, not three:
/// a plan is copied along the bind path, and each inline step is 188 bytes; three
/// made a bind+unbind pair cost more instructions than the allocation they save.)
public struct PlanStepList: RandomAccessCollection, Hashable, Sendable, ExpressibleByArrayLiteral,
  CustomStringConvertible
{
  /// How many steps are stored inline.
  public static var inlineCapacity: Int { SmallList<PlanStep>.inlineCount }

  var list = SmallList<PlanStep>()

  /// No steps.
  public init() {}

  /// The steps `elements`, in order.
  public init(arrayLiteral elements: PlanStep...) {
    for step in elements { append(step) }
  }

  /// Whether some steps live on the heap (more than ``inlineCapacity``).
  public var isAllocated: Bool { list.isAllocated }

  /// Appends a step.
  mutating func append(_ step: PlanStep) { list.append(step) }

  /// 0.
  public var startIndex: Int { 0 }
  /// The number of steps.
  public var endIndex: Int { list.endIndex }

  /// The step at `index`.
  public subscript(index: Int) -> PlanStep { list[index] }

  /// The same steps in the same order.
  public static func == (a: Self, b: Self) -> Bool { a.elementsEqual(b) }

  /// Hashes the steps in order.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(count)
    for step in self { hasher.combine(step) }
  }

  /// `[step, step, …]`.
  public var description: String {
    "[" + map(\.description).joined(separator: ", ") + "]"
  }
}
