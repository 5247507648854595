import GPUVirtualMemory
import PageTables
import Testing

/// One unit of the diagrams (a page of the test space).
let u: UInt64 = 0x1000
/// Object offsets `n` and `m` of the diagrams.
let n: UInt64 = 0x10 * u
let m: UInt64 = 0x40 * u
let objectA = BufferObjectID(1)
let objectB = BufferObjectID(2)

/// A VA of the diagrams: `[from, to)` units of `object` at `offset`.
func va(_ object: BufferObjectID?, _ from: UInt64, _ to: UInt64, _ offset: UInt64 = 0) -> GPUVA {
  GPUVA(
    address: from * u, range: (to - from) * u,
    backing: object.map { .object($0, offset: offset) } ?? .sparse)
}

/// A space of 1 MiB of 4 KiB pages holding `vas`.
func space(_ vas: [GPUVA]) throws -> GPUVASpace {
  var space = try GPUVASpace(start: 0, range: 1 << 20, pageSize: u)
  for va in vas { try space.insert(va) }
  return space
}

/// One numbered diagram of drm_gpuvm's "DOC: Split and Merge".
struct Diagram: CustomTestStringConvertible, Sendable {
  var number: String
  var old: [GPUVA]
  var request: GPUVA
  var steps: PlanStepList
  var new: [GPUVA]
  var testDescription: String { "diagram \(number)" }
}

/// The diagrams, as drm_gpuvm_sm_map's code produces them.
let diagrams: [Diagram] = [
  // 1) identical: replace, PTEs could be kept.
  Diagram(
    number: "1", old: [va(objectA, 0, 1, n)], request: va(objectA, 0, 1, n),
    steps: [.unmap(va(objectA, 0, 1, n), keep: true), .map(va(objectA, 0, 1, n))],
    new: [va(objectA, 0, 1, n)]),
  // 2) identical but for the BO offset.
  Diagram(
    number: "2", old: [va(objectA, 0, 1, n)], request: va(objectA, 0, 1, m),
    steps: [.unmap(va(objectA, 0, 1, n), keep: false), .map(va(objectA, 0, 1, m))],
    new: [va(objectA, 0, 1, m)]),
  // 3) identical but for the BO.
  Diagram(
    number: "3", old: [va(objectA, 0, 1, n)], request: va(objectB, 0, 1, n),
    steps: [.unmap(va(objectA, 0, 1, n), keep: false), .map(va(objectB, 0, 1, n))],
    new: [va(objectB, 0, 1, n)]),
  // 4) the old VA is a left-aligned subset of the request.
  Diagram(
    number: "4", old: [va(objectA, 0, 1, n)], request: va(objectA, 0, 2, n),
    steps: [.unmap(va(objectA, 0, 1, n), keep: true), .map(va(objectA, 0, 2, n))],
    new: [va(objectA, 0, 2, n)]),
  // 4, note) the same with another BO: no keep.
  Diagram(
    number: "4 (other BO)", old: [va(objectA, 0, 1, n)], request: va(objectB, 0, 2, n),
    steps: [.unmap(va(objectA, 0, 1, n), keep: false), .map(va(objectB, 0, 2, n))],
    new: [va(objectB, 0, 2, n)]),
  // 5) the request is a left-aligned subset, other BO: split, offset moves.
  Diagram(
    number: "5", old: [va(objectA, 0, 2, n)], request: va(objectB, 0, 1, n),
    steps: [
      .remap(unmap: va(objectA, 0, 2, n), keep: false, prev: nil, next: va(objectA, 1, 2, n + u)),
      .map(va(objectB, 0, 1, n)),
    ],
    new: [va(objectB, 0, 1, n), va(objectA, 1, 2, n + u)]),
  // 6) the old VA is a superset, same BO and offset: split, keep.
  Diagram(
    number: "6", old: [va(objectA, 0, 2, n)], request: va(objectA, 0, 1, n),
    steps: [
      .remap(unmap: va(objectA, 0, 2, n), keep: true, prev: nil, next: va(objectA, 1, 2, n + u)),
      .map(va(objectA, 0, 1, n)),
    ],
    new: [va(objectA, 0, 1, n), va(objectA, 1, 2, n + u)]),
  // 7) the request is a right-aligned subset, other BO.
  Diagram(
    number: "7", old: [va(objectA, 0, 2, n)], request: va(objectB, 1, 2, m),
    steps: [
      .remap(unmap: va(objectA, 0, 2, n), keep: false, prev: va(objectA, 0, 1, n), next: nil),
      .map(va(objectB, 1, 2, m)),
    ],
    new: [va(objectA, 0, 1, n), va(objectB, 1, 2, m)]),
  // 8) right-aligned subset, same BO, contiguous offset: keep.
  Diagram(
    number: "8", old: [va(objectA, 0, 2, n)], request: va(objectA, 1, 2, n + u),
    steps: [
      .remap(unmap: va(objectA, 0, 2, n), keep: true, prev: va(objectA, 0, 1, n), next: nil),
      .map(va(objectA, 1, 2, n + u)),
    ],
    new: [va(objectA, 0, 1, n), va(objectA, 1, 2, n + u)]),
  // 9) overlapped at the end by another BO.
  Diagram(
    number: "9", old: [va(objectA, 0, 2, n)], request: va(objectB, 1, 3, m),
    steps: [
      .remap(unmap: va(objectA, 0, 2, n), keep: false, prev: va(objectA, 0, 1, n), next: nil),
      .map(va(objectB, 1, 3, m)),
    ],
    new: [va(objectA, 0, 1, n), va(objectB, 1, 3, m)]),
  // 10) overlapped at the end, same BO, contiguous offset: keep.
  Diagram(
    number: "10", old: [va(objectA, 0, 2, n)], request: va(objectA, 1, 3, n + u),
    steps: [
      .remap(unmap: va(objectA, 0, 2, n), keep: true, prev: va(objectA, 0, 1, n), next: nil),
      .map(va(objectA, 1, 3, n + u)),
    ],
    new: [va(objectA, 0, 1, n), va(objectA, 1, 3, n + u)]),
  // 11) centred subset, other BO: two pieces, the right one's offset moves.
  Diagram(
    number: "11", old: [va(objectA, 0, 3, n)], request: va(objectB, 1, 2, m),
    steps: [
      .remap(
        unmap: va(objectA, 0, 3, n), keep: false, prev: va(objectA, 0, 1, n),
        next: va(objectA, 2, 3, n + 2 * u)),
      .map(va(objectB, 1, 2, m)),
    ],
    new: [va(objectA, 0, 1, n), va(objectB, 1, 2, m), va(objectA, 2, 3, n + 2 * u)]),
  // 12) centred contiguous subset: keep.
  Diagram(
    number: "12", old: [va(objectA, 0, 3, n)], request: va(objectA, 1, 2, n + u),
    steps: [
      .remap(
        unmap: va(objectA, 0, 3, n), keep: true, prev: va(objectA, 0, 1, n),
        next: va(objectA, 2, 3, n + 2 * u)),
      .map(va(objectA, 1, 2, n + u)),
    ],
    new: [va(objectA, 0, 1, n), va(objectA, 1, 2, n + u), va(objectA, 2, 3, n + 2 * u)]),
  // 13) the old VA is a right-aligned subset of the request: replace (the code
  // sets keep: the old VA's offset is the request's at its address).
  Diagram(
    number: "13", old: [va(objectA, 1, 2, n + u)], request: va(objectA, 0, 2, n),
    steps: [.unmap(va(objectA, 1, 2, n + u), keep: true), .map(va(objectA, 0, 2, n))],
    new: [va(objectA, 0, 2, n)]),
  // 14) the old VA is a centred subset of the request: replace.
  Diagram(
    number: "14", old: [va(objectA, 1, 2, n + u)], request: va(objectA, 0, 3, n),
    steps: [.unmap(va(objectA, 1, 2, n + u), keep: true), .map(va(objectA, 0, 3, n))],
    new: [va(objectA, 0, 3, n)]),
  // 14, note) another BO: no keep.
  Diagram(
    number: "14 (other BO)", old: [va(objectA, 1, 2, n + u)], request: va(objectB, 0, 3, n),
    steps: [.unmap(va(objectA, 1, 2, n + u), keep: false), .map(va(objectB, 0, 3, n))],
    new: [va(objectB, 0, 3, n)]),
  // 15) overlapped at the beginning by another BO. The prose says a'.bo_offset =
  // n+2; the code (`offset + req_end - addr`) gives n+1 for an old VA [1, 3) at
  // offset n, and the kernel's code wins.
  Diagram(
    number: "15", old: [va(objectA, 1, 3, n)], request: va(objectB, 0, 2, m),
    steps: [
      .remap(unmap: va(objectA, 1, 3, n), keep: false, prev: nil, next: va(objectA, 2, 3, n + u)),
      .map(va(objectB, 0, 2, m)),
    ],
    new: [va(objectB, 0, 2, m), va(objectA, 2, 3, n + u)]),
]

@Suite struct SplitMergeTests {
  @Test(arguments: diagrams)
  func mapPlanFollowsTheDiagram(_ diagram: Diagram) throws {
    var space = try space(diagram.old)
    let before = space.vas
    let request = MapRequest(
      address: diagram.request.address, range: diagram.request.range,
      backing: diagram.request.backing)
    let plan = try space.planMap(request)
    #expect(plan.steps == diagram.steps)
    #expect(space.vas == before, "planning changes nothing")
    try space.apply(plan)
    #expect(space.vas == diagram.new)
    space.tree.checkInvariants()
  }

  @Test func unmapPlanUnmapsInsideAndRemapsAcrossTheEdges() throws {
    var space = try space([va(objectA, 0, 3, n), va(objectB, 4, 5, m), va(objectA, 6, 9, n)])
    let plan = try space.planUnmap(address: 2 * u, range: 5 * u)
    #expect(
      plan.steps == [
        .remap(unmap: va(objectA, 0, 3, n), keep: false, prev: va(objectA, 0, 2, n), next: nil),
        .unmap(va(objectB, 4, 5, m), keep: false),
        .remap(
          unmap: va(objectA, 6, 9, n), keep: false, prev: nil, next: va(objectA, 7, 9, n + u)),
      ])
    try space.apply(plan)
    #expect(space.vas == [va(objectA, 0, 2, n), va(objectA, 7, 9, n + u)])
    // An unmap of a hole plans nothing.
    #expect(try space.planUnmap(address: 3 * u, range: 2 * u).steps.isEmpty)
    // Splitting one VA on both sides gives one remap with both pieces.
    let middle = try space.planUnmap(address: 7 * u + u, range: u)
    #expect(
      middle.steps == [
        .remap(
          unmap: va(objectA, 7, 9, n + u), keep: false, prev: va(objectA, 7, 8, n + u),
          next: nil)
      ])
  }

  @Test func aMapOverManyVAsUnmapsThemAllThenMaps() throws {
    var space = try space([
      va(objectA, 0, 2, n), va(objectB, 2, 3, m), va(nil, 3, 4), va(objectA, 5, 7, n + 5 * u),
    ])
    let plan = try space.planMap(
      MapRequest(address: u, range: 5 * u, backing: .object(objectA, offset: n + u)))
    #expect(
      plan.steps == [
        .remap(unmap: va(objectA, 0, 2, n), keep: true, prev: va(objectA, 0, 1, n), next: nil),
        .unmap(va(objectB, 2, 3, m), keep: false),
        .unmap(va(nil, 3, 4), keep: false),
        .remap(
          unmap: va(objectA, 5, 7, n + 5 * u), keep: true, prev: nil,
          next: va(objectA, 6, 7, n + 6 * u)),
        .map(va(objectA, 1, 6, n + u)),
      ])
    try space.apply(plan)
    #expect(
      space.vas == [va(objectA, 0, 1, n), va(objectA, 1, 6, n + u), va(objectA, 6, 7, n + 6 * u)])
  }

  @Test func invalidRangesAreTypedErrorsAndChangeNothing() throws {
    var space = try GPUVASpace(
      start: 0x10_0000, range: 0x10_0000, pageSize: u,
      reservedKernelNode: 0x1f_0000..<0x20_0000)
    try space.insert(GPUVA(address: 0x10_0000, range: u, backing: .sparse))
    let before = space.vas
    let object = VABacking.object(objectA, offset: 0)
    func map(_ address: UInt64, _ range: UInt64) -> GPUVMError? {
      do {
        _ = try space.planMap(MapRequest(address: address, range: range, backing: object))
        return nil
      } catch { return error }
    }
    #expect(map(0x10_0000, 0) == .emptyRange)
    #expect(
      map(UInt64.max - u + 1, 2 * u) == .addressOverflow(address: UInt64.max - u + 1, range: 2 * u))
    #expect(map(0x10_0800, u) == .misaligned(0x10_0800))
    #expect(map(0x10_0000, 0x800) == .misaligned(0x800))
    #expect(map(0x0f_f000, 2 * u) == .outsideSpace(address: 0x0f_f000, range: 2 * u))
    #expect(map(0x1f_f000, 2 * u) == .outsideSpace(address: 0x1f_f000, range: 2 * u))
    #expect(map(0x1e_f000, 2 * u) == .touchesReservedNode(address: 0x1e_f000, range: 2 * u))
    #expect(throws: GPUVMError.overlaps(existingAddress: 0x10_0000, existingRange: u)) {
      try space.insert(GPUVA(address: 0x10_0000, range: 2 * u, backing: .sparse))
    }
    #expect(throws: GPUVMError.touchesReservedNode(address: 0x1f_0000, range: u)) {
      try space.planUnmap(address: 0x1f_0000, range: u)
    }
    #expect(throws: GPUVMError.invalidRepeat(objectRange: 3 * u, vaRange: 4 * u)) {
      try space.planMap(
        MapRequest(
          address: 0x11_0000, range: 4 * u, backing: .repeated(objectA, offset: 0, range: 3 * u)))
    }
    #expect(space.vas == before)
  }

  @Test func aStalePlanIsRefused() throws {
    var space = try space([va(objectA, 0, 2, n)])
    let first = try space.planUnmap(address: 0, range: u)
    let second = try space.planUnmap(address: u, range: u)
    try space.apply(first)
    #expect(throws: GPUVMError.stalePlan) { try space.apply(second) }
    #expect(space.vas == [va(objectA, 1, 2, n + u)])
  }
}
