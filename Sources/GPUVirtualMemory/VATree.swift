/// The VA space's ordered interval structure: an AVL tree of disjoint VAs keyed by
/// start address, its nodes in one array with a free list.
///
/// ```swift
/// var tree = VATree()
/// _ = tree.insert(GPUVA(address: 0x4000, range: 0x4000, backing: .sparse))
/// tree.firstOverlap(start: 0x6000, end: 0x9000)  // the node of that VA
/// ```
///
/// Because VAs never overlap, the first VA overlapping `[start, end)` is the one
/// with the greatest address `<= start` if it reaches past `start`, else the one
/// with the least address `> start` if it begins before `end`: two O(log n)
/// descents, no augmented maximum needed (Linux's interval tree keeps one
/// because it allows overlaps).
///
/// Nodes can be reserved ahead (``reserve(_:)``): an insert then takes a node from
/// the free list and never grows the array, which is how a bind's commit inserts
/// without allocating.
///
/// ## Invariants
/// - In-order traversal gives strictly increasing, pairwise disjoint VAs.
/// - Every node's height is 1 + the larger child height; children differ by ≤ 1.
/// - Free nodes are chained through `left`; `freeCount` counts them.
public struct VATree: Sendable {
  @usableFromInline
  struct Node: Sendable {
    @usableFromInline var va: GPUVA
    @usableFromInline var left: Int32
    @usableFromInline var right: Int32
    @usableFromInline var height: Int8
  }

  @usableFromInline var nodes: [Node] = []
  @usableFromInline var root: Int32 = -1
  var freeHead: Int32 = -1
  /// Nodes on the free list (reserved for inserts that must not allocate).
  public private(set) var freeCount = 0
  /// The number of VAs.
  public private(set) var count = 0

  /// An empty tree.
  public init() {}

  /// The VA of node `index` (an index from a lookup).
  @inlinable
  public subscript(index: Int32) -> GPUVA { nodes[Int(index)].va }

  /// Makes sure at least `count` inserts can follow without allocating.
  public mutating func reserve(_ count: Int) {
    // Makes the node storage this tree's own and large enough: the inserts and
    // removals that follow then write in place (no copy on write, no growth).
    nodes.reserveCapacity(nodes.count + max(0, count - freeCount))
    while freeCount < count {
      let index = Int32(nodes.count)
      nodes.append(
        Node(
          va: GPUVA(address: 0, range: 0, backing: .sparse), left: freeHead, right: -1, height: 0))
      freeHead = index
      freeCount += 1
    }
  }

  // MARK: Lookups

  /// The node with the greatest address `<= address`.
  @inlinable
  public func floor(_ address: UInt64) -> Int32? { bound(address, below: true) }

  /// The node with the least address `>= address`.
  @inlinable
  public func ceiling(_ address: UInt64) -> Int32? { bound(address, below: false) }

  /// ``floor(_:)`` (`below`) or ``ceiling(_:)``: one descent, remembering the last
  /// node on the right side of `address`.
  @inlinable
  func bound(_ address: UInt64, below: Bool) -> Int32? {
    var t = root
    var best: Int32 = -1
    while t >= 0 {
      let node = nodes[Int(t)]
      let start = node.va.address
      if start == address { return t }
      if (start < address) == below {
        best = t
        t = below ? node.right : node.left
      } else {
        t = below ? node.left : node.right
      }
    }
    return best >= 0 ? best : nil
  }

  /// The first VA (lowest address) overlapping `[start, end)`, in O(log n): one
  /// descent towards `start`, which passes both the VA at or below `start` (if it
  /// contains `start`, no VA before it can overlap) and the least VA above it.
  @inlinable
  public func firstOverlap(start: UInt64, end: UInt64) -> Int32? {
    var t = root
    var above: Int32 = -1
    while t >= 0 {
      let address = nodes[Int(t)].va.address
      if address <= start {
        if address &+ nodes[Int(t)].va.range > start { return t }
        t = nodes[Int(t)].right
      } else {
        above = t
        t = nodes[Int(t)].left
      }
    }
    return above >= 0 && nodes[Int(above)].va.address < end ? above : nil
  }

  /// The VA after node `index` if it begins before `end`.
  @inlinable
  public func nextOverlap(after index: Int32, end: UInt64) -> Int32? {
    let current = nodes[Int(index)].va
    guard current.end < end, let next = ceiling(current.end) else { return nil }
    return nodes[Int(next)].va.address < end ? next : nil
  }

  /// Every VA overlapping `[start, end)`, in address order.
  public func overlapping(start: UInt64, end: UInt64) -> [GPUVA] {
    var result: [GPUVA] = []
    var cursor = firstOverlap(start: start, end: end)
    while let index = cursor {
      result.append(self[index])
      cursor = nextOverlap(after: index, end: end)
    }
    return result
  }

  /// Every VA in address order.
  public var all: [GPUVA] {
    var result: [GPUVA] = []
    result.reserveCapacity(count)
    func visit(_ t: Int32) {
      guard t >= 0 else { return }
      visit(nodes[Int(t)].left)
      result.append(nodes[Int(t)].va)
      visit(nodes[Int(t)].right)
    }
    visit(root)
    return result
  }

  // MARK: Insert and remove

  /// Inserts `va` unless it overlaps a VA; returns the VA it overlaps otherwise.
  /// Takes a reserved node when there is one.
  @discardableResult
  public mutating func insert(_ va: GPUVA) -> GPUVA? {
    precondition(
      va.range > 0 && va.address <= va.address &+ (va.range &- 1),
      "VATree: a VA is non-empty and does not wrap")
    if let existing = firstOverlap(start: va.address, end: va.end) { return self[existing] }
    let index: Int32
    if freeHead >= 0 {
      index = freeHead
      freeHead = nodes[Int(index)].left
      freeCount -= 1
      nodes[Int(index)] = Node(va: va, left: -1, right: -1, height: 1)
    } else {
      index = Int32(nodes.count)
      nodes.append(Node(va: va, left: -1, right: -1, height: 1))
    }
    root = insert(index, into: root)
    count += 1
    return nil
  }

  /// Removes the VA that starts at `address`; returns it.
  @discardableResult
  public mutating func remove(at address: UInt64) -> GPUVA? {
    var removed: Int32 = -1
    root = remove(address, from: root, removed: &removed)
    guard removed >= 0 else { return nil }
    let va = nodes[Int(removed)].va
    nodes[Int(removed)].left = freeHead
    nodes[Int(removed)].right = -1
    freeHead = removed
    freeCount += 1
    count -= 1
    return va
  }

  /// Replaces the VA that starts at `address` with `va` (same address and range).
  public mutating func update(at address: UInt64, _ body: (inout GPUVA) -> Void) {
    guard let index = floor(address), nodes[Int(index)].va.address == address else {
      preconditionFailure("VATree.update: a VA starts at the address")
    }
    let before = nodes[Int(index)].va
    body(&nodes[Int(index)].va)
    precondition(
      nodes[Int(index)].va.address == before.address && nodes[Int(index)].va.range == before.range,
      "VATree.update: the VA keeps its range")
  }

  // MARK: AVL

  func height(_ t: Int32) -> Int8 { t >= 0 ? nodes[Int(t)].height : 0 }

  mutating func fix(_ t: Int32) {
    nodes[Int(t)].height = max(height(nodes[Int(t)].left), height(nodes[Int(t)].right)) + 1
  }

  mutating func rotateRight(_ t: Int32) -> Int32 {
    let l = nodes[Int(t)].left
    nodes[Int(t)].left = nodes[Int(l)].right
    nodes[Int(l)].right = t
    fix(t)
    fix(l)
    return l
  }

  mutating func rotateLeft(_ t: Int32) -> Int32 {
    let r = nodes[Int(t)].right
    nodes[Int(t)].right = nodes[Int(r)].left
    nodes[Int(r)].left = t
    fix(t)
    fix(r)
    return r
  }

  mutating func rebalance(_ t: Int32) -> Int32 {
    fix(t)
    let balance = Int(height(nodes[Int(t)].left)) - Int(height(nodes[Int(t)].right))
    if balance > 1 {
      let l = nodes[Int(t)].left
      if height(nodes[Int(l)].left) < height(nodes[Int(l)].right) {
        nodes[Int(t)].left = rotateLeft(l)
      }
      return rotateRight(t)
    }
    if balance < -1 {
      let r = nodes[Int(t)].right
      if height(nodes[Int(r)].right) < height(nodes[Int(r)].left) {
        nodes[Int(t)].right = rotateRight(r)
      }
      return rotateLeft(t)
    }
    return t
  }

  mutating func insert(_ index: Int32, into t: Int32) -> Int32 {
    guard t >= 0 else { return index }
    if nodes[Int(index)].va.address < nodes[Int(t)].va.address {
      nodes[Int(t)].left = insert(index, into: nodes[Int(t)].left)
    } else {
      nodes[Int(t)].right = insert(index, into: nodes[Int(t)].right)
    }
    return rebalance(t)
  }

  mutating func removeMinimum(from t: Int32, minimum: inout Int32) -> Int32 {
    if nodes[Int(t)].left < 0 {
      minimum = t
      return nodes[Int(t)].right
    }
    nodes[Int(t)].left = removeMinimum(from: nodes[Int(t)].left, minimum: &minimum)
    return rebalance(t)
  }

  mutating func remove(_ address: UInt64, from t: Int32, removed: inout Int32) -> Int32 {
    guard t >= 0 else { return -1 }
    let key = nodes[Int(t)].va.address
    if address < key {
      nodes[Int(t)].left = remove(address, from: nodes[Int(t)].left, removed: &removed)
    } else if address > key {
      nodes[Int(t)].right = remove(address, from: nodes[Int(t)].right, removed: &removed)
    } else {
      removed = t
      let left = nodes[Int(t)].left
      let right = nodes[Int(t)].right
      if left < 0 { return right }
      if right < 0 { return left }
      var minimum: Int32 = -1
      let newRight = removeMinimum(from: right, minimum: &minimum)
      nodes[Int(minimum)].left = left
      nodes[Int(minimum)].right = newRight
      return rebalance(minimum)
    }
    return rebalance(t)
  }

  /// Checks the invariants (for tests); traps naming the one that is broken.
  public func checkInvariants() {
    var previousEnd: UInt64 = 0
    var first = true
    var seen = 0
    func visit(_ t: Int32) -> Int8 {
      guard t >= 0 else { return 0 }
      let lh = visit(nodes[Int(t)].left)
      let va = nodes[Int(t)].va
      precondition(first || va.address >= previousEnd, "VATree: VAs are ordered and disjoint")
      first = false
      previousEnd = va.end
      seen += 1
      let rh = visit(nodes[Int(t)].right)
      precondition(abs(Int(lh) - Int(rh)) <= 1, "VATree: AVL balance")
      precondition(nodes[Int(t)].height == max(lh, rh) + 1, "VATree: heights are exact")
      return nodes[Int(t)].height
    }
    _ = visit(root)
    precondition(seen == count, "VATree: count matches the nodes reachable from the root")
  }
}
