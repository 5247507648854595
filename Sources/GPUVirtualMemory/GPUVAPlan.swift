import PageTables

/// A request to map `[address, address + range)` (a `drm_gpuvm_map_req`).
///
/// ```swift
/// let request = MapRequest(address: 0x10_0000, range: 0x10000,
///                          backing: .object(BufferObjectID(1), offset: 0))
/// ```
public struct MapRequest: Hashable, Sendable {
  /// The VA the request creates.
  public var va: GPUVA
  /// A request for `[address, address + range)` backed by `backing`.
  public init(
    address: UInt64, range: UInt64, backing: VABacking, protection: Protection = .readWrite
  ) {
    self.va = GPUVA(address: address, range: range, backing: backing, protection: protection)
  }
}

/// One step of a split/merge plan (a `drm_gpuva_op`).
public enum PlanStep: Hashable, Sendable, CustomStringConvertible {
  /// Insert a VA (`DRM_GPUVA_OP_MAP`).
  case map(GPUVA)
  /// Replace `unmap` by the pieces `prev` and/or `next` that stay
  /// (`DRM_GPUVA_OP_REMAP`); `keep` as for ``unmap(_:keep:)``.
  case remap(unmap: GPUVA, keep: Bool, prev: GPUVA?, next: GPUVA?)
  /// Remove a VA (`DRM_GPUVA_OP_UNMAP`). `keep`: the VA maps the same object
  /// pages at the same place as the request that replaces it, so its page-table
  /// entries may stay (`drm_gpuva_op_unmap.keep`).
  case unmap(GPUVA, keep: Bool)

  /// `map …`, `remap … -> prev …, next …`, `unmap …` (with `keep` when set).
  public var description: String {
    switch self {
    case .map(let va): return "map \(va)"
    case .unmap(let va, let keep): return "unmap \(va)" + (keep ? " keep" : "")
    case .remap(let va, let keep, let prev, let next):
      var text = "remap \(va)" + (keep ? " keep" : "") + " ->"
      if let prev { text += " prev \(prev)" }
      if let next { text += (prev == nil ? "" : ",") + " next \(next)" }
      return text
    }
  }
}

/// The ordered steps that carry out one request, made against one state of a
/// ``GPUVASpace`` (a `drm_gpuva_ops` list).
///
/// ```swift
/// let plan = try space.planMap(MapRequest(address: 0x4000, range: 0x4000,
///                                         backing: .object(BufferObjectID(1), offset: 0)))
/// for step in plan.steps { print(step) }
/// ```
///
/// A plan is valid only until the space changes: applying another plan first makes
/// it stale (the kernel has the same rule for its ops lists).
public struct GPUVAPlan: Hashable, Sendable {
  /// What the request was.
  public enum Kind: Hashable, Sendable {
    /// `drm_gpuvm_sm_map`.
    case map
    /// `drm_gpuvm_sm_unmap`.
    case unmap
    /// `drm_gpuvm_madvise_ops_create`.
    case madvise
  }
  /// What the request was.
  public var kind: Kind
  /// The requested range's first address.
  public var address: UInt64
  /// The requested range's length.
  public var range: UInt64
  /// The steps, in the order they must be performed (inline for the common
  /// requests: planning them allocates nothing).
  public var steps: PlanStepList
  /// The space's generation the plan was made against.
  public var generation: UInt64

  /// How many VA nodes applying the plan inserts at most (for reservations).
  public var insertedVACount: Int {
    var total = 0
    for index in steps.indices {
      switch steps[index] {
      case .map: total += 1
      case .unmap: break
      case .remap(_, _, let prev, let next): total += (prev == nil ? 0 : 1) + (next == nil ? 0 : 1)
      }
    }
    return total
  }
}
