import GPUVirtualMemory
import PageTables
import Testing

/// A sparse VA `[from, to)` units with `protection`. Its (meaningless) offset is
/// its address: the kernel moves `gem.offset` along for pieces of object-less VAs
/// too, and these VAs all start as if cut from one at offset 0.
func sparse(_ from: UInt64, _ to: UInt64, _ protection: Protection = .readWrite) -> GPUVA {
  var backing = VABacking.sparse
  backing.offset = from * u
  return GPUVA(address: from * u, range: (to - from) * u, backing: backing, protection: protection)
}

/// One madvise split case: old VAs, the range, the steps, the VAs after.
struct MadviseCase: CustomTestStringConvertible, Sendable {
  var name: String
  var old: [GPUVA]
  var range: (UInt64, UInt64)
  var steps: PlanStepList
  var new: [GPUVA]
  var testDescription: String { name }
}

let ro = Protection.readOnly

let madviseCases: [MadviseCase] = [
  MadviseCase(
    name: "centred in one VA: split in three", old: [sparse(0, 3)], range: (1, 2),
    steps: [
      .remap(unmap: sparse(0, 3), keep: false, prev: sparse(0, 1), next: sparse(2, 3)),
      .map(sparse(1, 2, ro)),
    ],
    new: [sparse(0, 1), sparse(1, 2, ro), sparse(2, 3)]),
  MadviseCase(
    name: "left-aligned in one VA", old: [sparse(0, 2)], range: (0, 1),
    steps: [
      .remap(unmap: sparse(0, 2), keep: false, prev: nil, next: sparse(1, 2)),
      .map(sparse(0, 1, ro)),
    ],
    new: [sparse(0, 1, ro), sparse(1, 2)]),
  MadviseCase(
    name: "right-aligned in one VA", old: [sparse(0, 2)], range: (1, 2),
    steps: [
      .remap(unmap: sparse(0, 2), keep: false, prev: sparse(0, 1), next: nil),
      .map(sparse(1, 2, ro)),
    ],
    new: [sparse(0, 1), sparse(1, 2, ro)]),
  MadviseCase(
    name: "across two VAs: both split, inside pieces mapped", old: [sparse(0, 2), sparse(2, 4)],
    range: (1, 3),
    steps: [
      .remap(unmap: sparse(0, 2), keep: false, prev: sparse(0, 1), next: nil),
      .map(sparse(1, 2, ro)),
      .remap(unmap: sparse(2, 4), keep: false, prev: nil, next: sparse(3, 4)),
      .map(sparse(2, 3, ro)),
    ],
    new: [sparse(0, 1), sparse(1, 2, ro), sparse(2, 3, ro), sparse(3, 4)]),
  MadviseCase(
    name: "exactly one VA: nothing to split", old: [sparse(0, 1)], range: (0, 1), steps: [],
    new: [sparse(0, 1)]),
  MadviseCase(
    name: "a VA wholly inside: no step (the driver updates it)", old: [sparse(1, 2)],
    range: (0, 3), steps: [], new: [sparse(1, 2)]),
  MadviseCase(
    name: "a VA with an object is skipped, as in the kernel", old: [va(objectA, 0, 3, n)],
    range: (1, 2), steps: [], new: [va(objectA, 0, 3, n)]),
  MadviseCase(
    name: "object VA between sparse ones: only the sparse ones split",
    old: [sparse(0, 2), va(objectA, 2, 4, n), sparse(4, 6)], range: (1, 5),
    steps: [
      .remap(unmap: sparse(0, 2), keep: false, prev: sparse(0, 1), next: nil),
      .map(sparse(1, 2, ro)),
      .remap(unmap: sparse(4, 6), keep: false, prev: nil, next: sparse(5, 6)),
      .map(sparse(4, 5, ro)),
    ],
    new: [sparse(0, 1), sparse(1, 2, ro), va(objectA, 2, 4, n), sparse(4, 5, ro), sparse(5, 6)]),
]

/// A repeat VA `[from, to)` units of object B's window `[base, base + window)`
/// units, its first page at `phase` units into the window.
func repeated(_ from: UInt64, _ to: UInt64, window: UInt64, phase: UInt64 = 0) -> GPUVA {
  var backing = VABacking.repeated(objectB, offset: 0, range: window * u)
  backing.offset = phase * u
  return GPUVA(address: from * u, range: (to - from) * u, backing: backing)
}

@Suite struct MadviseAndRepeatTests {
  @Test(arguments: madviseCases)
  func madviseSplitsOnly(_ madvise: MadviseCase) throws {
    var space = try space(madvise.old)
    let plan = try space.planMadvise(
      address: madvise.range.0 * u, range: (madvise.range.1 - madvise.range.0) * u,
      protection: ro)
    #expect(plan.steps == madvise.steps)
    #expect(!plan.steps.contains { if case .unmap = $0 { true } else { false } })
    try space.apply(plan)
    #expect(space.vas == madvise.new)
  }

  /// The object page backing every page of `vas` (nil where nothing does).
  func backingPages(_ vas: [GPUVA], pages: UInt64) -> [UInt64?] {
    (0..<pages).map { page in
      guard let va = vas.first(where: { page * u >= $0.address && page * u < $0.end }) else {
        return nil
      }
      return va.backing.offset(after: page * u - va.address)
    }
  }

  @Test(
    arguments: [
      (2, 4),  // a multiple of the window on both sides
      (1, 2),  // inside one period
      (3, 6),  // from inside a period across periods
      (0, 1),  // the first page
      (7, 8),  // the last page
      (1, 7),  // everything but the ends
    ] as [(UInt64, UInt64)])
  func aRepeatVASplitsAnywhereAndKeepsEveryPagesPattern(_ hole: (UInt64, UInt64)) throws {
    var space = try space([repeated(0, 8, window: 2)])
    let pattern = backingPages(space.vas, pages: 8)
    #expect(pattern == [0, u, 0, u, 0, u, 0, u])
    let plan = try space.planUnmap(address: hole.0 * u, range: (hole.1 - hole.0) * u)
    try space.apply(plan)
    let after = backingPages(space.vas, pages: 8)
    for page in 0..<8 {
      let inHole = UInt64(page) >= hole.0 && UInt64(page) < hole.1
      #expect(after[page] == (inHole ? nil : pattern[page]), "page \(page)")
    }
    for piece in space.vas {
      #expect(piece.backing.repeatRange == 2 * u && piece.backing.repeatBase == 0)
    }
  }

  @Test func aRepeatRequestKeepsOnlyInPhase() throws {
    let space = try space([repeated(0, 8, window: 2)])
    // The same pattern over [2, 4): in phase, the PTEs could stay.
    let inPhase = try space.planMap(
      MapRequest(address: 2 * u, range: 2 * u, backing: .repeated(objectB, offset: 0, range: 2 * u))
    )
    #expect(
      inPhase.steps.first.map { if case .remap(_, true, _, _) = $0 { true } else { false } } == true
    )
    // Shifted by one page: every page changes, no keep.
    let shifted = try space.planMap(
      MapRequest(address: 3 * u, range: 2 * u, backing: .repeated(objectB, offset: 0, range: 2 * u))
    )
    #expect(
      shifted.steps.first.map { if case .remap(_, false, _, _) = $0 { true } else { false } }
        == true)
    // A plain mapping of the window where it lines up is not a repeat: no keep.
    let plain = try space.planMap(
      MapRequest(address: 0, range: 2 * u, backing: .object(objectB, offset: 0)))
    #expect(
      plain.steps.first.map { if case .remap(_, false, _, _) = $0 { true } else { false } } == true)
  }

  @Test func aMapInsideARepeatVASplitsItAroundTheRequest() throws {
    var space = try space([repeated(0, 8, window: 2)])
    let plan = try space.planMap(
      MapRequest(address: 3 * u, range: 2 * u, backing: .object(objectA, offset: n)))
    #expect(
      plan.steps == [
        .remap(
          unmap: repeated(0, 8, window: 2), keep: false, prev: repeated(0, 3, window: 2),
          next: repeated(5, 8, window: 2, phase: 1)),
        .map(va(objectA, 3, 5, n)),
      ])
    try space.apply(plan)
    #expect(backingPages(space.vas, pages: 8) == [0, u, 0, n, n + u, u, 0, u])
  }
}
