/// A list whose first two elements live in the value itself and the rest in an
/// array: the lists a bind fills (plan steps, rollback records, a commit's unpins)
/// hold a few elements in the common case, and then allocate nothing.
///
/// (Two stored optionals rather than an `InlineArray` with a generic count:
/// on this toolchain a value-generic type's copies and destruction go through
/// runtime metadata, which cost more than the allocation saved.)
///
/// ## Invariants
/// - The first `min(count, 2)` inline slots are non-nil, the others nil.
/// - `spilled.count == max(0, count - 2)`.
struct SmallList<Element>: RandomAccessCollection, MutableCollection {
  /// How many elements live inline.
  static var inlineCount: Int { 2 }

  var first0: Element? = nil
  var first1: Element? = nil
  var spilled: [Element] = []
  var stored = 0

  init() {}

  var startIndex: Int { 0 }
  var endIndex: Int { stored }

  subscript(index: Int) -> Element {
    get {
      precondition(index >= 0 && index < stored, "SmallList: the index is an element's")
      switch index {
      case 0: return first0!
      case 1: return first1!
      default: return spilled[index - 2]
      }
    }
    set {
      precondition(index >= 0 && index < stored, "SmallList: the index is an element's")
      switch index {
      case 0: first0 = newValue
      case 1: first1 = newValue
      default: spilled[index - 2] = newValue
      }
    }
  }

  /// Whether some elements live in the array.
  var isAllocated: Bool { !spilled.isEmpty }

  mutating func append(_ element: Element) {
    switch stored {
    case 0: first0 = element
    case 1: first1 = element
    default: spilled.append(element)
    }
    stored += 1
  }

  /// Makes sure `total` elements fit without allocating.
  mutating func reserveCapacity(_ total: Int) {
    if total > 2 { spilled.reserveCapacity(total - 2) }
  }

  /// Removes every element (keeping the array's room).
  mutating func removeAll() {
    first0 = nil
    first1 = nil
    spilled.removeAll(keepingCapacity: true)
    stored = 0
  }
}

extension SmallList: Sendable where Element: Sendable {}
