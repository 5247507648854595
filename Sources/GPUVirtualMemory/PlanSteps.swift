/// Proof that a plan step was performed: only performing a step makes one (the
/// Rust gpuvm abstraction's `OpMapped`/`OpRemapped`/`OpUnmapped` tokens).
public struct PerformedStep: ~Copyable {
  let index: Int
}

/// A step's obligation: made when the step is handed over, discharged only by
/// performing it; dropping it undischarged traps, naming the step.
struct StepObligation: ~Copyable {
  /// The step, for the trap's message.
  let step: PlanStep
  /// Its place in its plan.
  let index: Int
  var performed = false

  /// The proof that the step was performed.
  consuming func discharge() -> PerformedStep {
    performed = true
    return PerformedStep(index: index)
  }

  deinit {
    if !performed { fatalError("GPUVirtualMemory: plan step \(index) (\(step)) was dropped") }
  }
}

/// A map step handed to a driver: insert ``va``. It must be consumed by
/// ``perform(in:)``; dropping it traps, naming the step.
///
/// ```swift
/// mutating func map(_ step: consuming MapStep, in space: inout GPUVASpace) -> PerformedStep {
///   pageTable.map(step.va)          // the driver's side
///   return step.perform(in: &space) // the VA tree's side, and the proof
/// }
/// ```
public struct MapStep: ~Copyable {
  /// The VA to insert.
  public let va: GPUVA
  var obligation: StepObligation

  /// The step's place in its plan.
  public var index: Int { obligation.index }

  /// Inserts the VA into `space` (`drm_gpuva_map`).
  public consuming func perform(in space: inout GPUVASpace) -> PerformedStep {
    space.insertPlanned(va)
    return obligation.discharge()
  }
}

/// A remap step handed to a driver: replace ``unmap`` by ``prev`` and/or ``next``.
/// Consume it with ``perform(in:)``; dropping it traps, naming the step.
public struct RemapStep: ~Copyable {
  /// The VA that goes.
  public let unmap: GPUVA
  /// Whether its page-table entries inside the request may stay.
  public let keep: Bool
  /// The piece before the request that stays.
  public let prev: GPUVA?
  /// The piece after the request that stays.
  public let next: GPUVA?
  var obligation: StepObligation

  /// The step's place in its plan.
  public var index: Int { obligation.index }

  /// The part of ``unmap`` that no piece keeps.
  public var removedRange: Range<UInt64> {
    (prev?.end ?? unmap.address)..<(next?.address ?? unmap.end)
  }

  /// Removes the old VA and inserts the pieces (`drm_gpuva_remap`).
  public consuming func perform(in space: inout GPUVASpace) -> PerformedStep {
    space.removePlanned(unmap)
    if let prev { space.insertPlanned(prev) }
    if let next { space.insertPlanned(next) }
    return obligation.discharge()
  }
}

/// An unmap step handed to a driver: remove ``va``. Consume it with
/// ``perform(in:)``; dropping it traps, naming the step.
public struct UnmapStep: ~Copyable {
  /// The VA that goes.
  public let va: GPUVA
  /// Whether its page-table entries may stay (the request maps the same bytes).
  public let keep: Bool
  var obligation: StepObligation

  /// The step's place in its plan.
  public var index: Int { obligation.index }

  /// Removes the VA (`drm_gpuva_unmap`).
  public consuming func perform(in space: inout GPUVASpace) -> PerformedStep {
    space.removePlanned(va)
    return obligation.discharge()
  }
}

/// What a driver does for each step of a plan (`drm_gpuvm_ops.sm_step_*`): each
/// method receives the step as a `~Copyable` value and must return the
/// ``PerformedStep`` that only performing it yields, so a skipped step does not
/// compile, and a dropped one traps with its name.
public protocol PlanStepHandler: ~Copyable {
  /// Carries out a map step.
  mutating func map(_ step: consuming MapStep, in space: inout GPUVASpace) -> PerformedStep
  /// Carries out a remap step.
  mutating func remap(_ step: consuming RemapStep, in space: inout GPUVASpace) -> PerformedStep
  /// Carries out an unmap step.
  mutating func unmap(_ step: consuming UnmapStep, in space: inout GPUVASpace) -> PerformedStep
}

/// The handler that only updates the VA tree.
struct TreeOnlyHandler: PlanStepHandler {
  mutating func map(_ step: consuming MapStep, in space: inout GPUVASpace) -> PerformedStep {
    step.perform(in: &space)
  }
  mutating func remap(_ step: consuming RemapStep, in space: inout GPUVASpace) -> PerformedStep {
    step.perform(in: &space)
  }
  mutating func unmap(_ step: consuming UnmapStep, in space: inout GPUVASpace) -> PerformedStep {
    step.perform(in: &space)
  }
}

extension GPUVASpace {
  /// Applies `plan` to the VA tree only.
  /// - Throws: ``GPUVMError/stalePlan`` if the space changed since the plan was made.
  public mutating func apply(_ plan: GPUVAPlan) throws(GPUVMError) {
    var handler = TreeOnlyHandler()
    try apply(plan, handler: &handler)
  }

  /// Hands each step of `plan` to `handler`, in order.
  /// - Throws: ``GPUVMError/stalePlan`` (before any step) if the space changed since
  ///   the plan was made.
  public mutating func apply<Handler: PlanStepHandler & ~Copyable>(
    _ plan: GPUVAPlan, handler: inout Handler
  ) throws(GPUVMError) {
    guard plan.generation == generation else { throw .stalePlan }
    applyChecked(plan, handler: &handler)
  }

  /// Hands each step to `handler`; the plan is known to be current.
  mutating func applyChecked<Handler: PlanStepHandler & ~Copyable>(
    _ plan: GPUVAPlan, handler: inout Handler
  ) {
    for index in plan.steps.indices {
      let step = plan.steps[index]
      let answered = handOver(step, index: index, to: &handler)
      precondition(
        answered == index, "GPUVASpace.apply: step \(index) answered with step \(answered)'s proof")
    }
    generation &+= 1
  }

  /// Hands one step to `handler`; returns the index its proof names.
  mutating func handOver<Handler: PlanStepHandler & ~Copyable>(
    _ step: PlanStep, index: Int, to handler: inout Handler
  ) -> Int {
    let obligation = StepObligation(step: step, index: index)
    switch step {
    case .map(let va):
      return handler.map(MapStep(va: va, obligation: obligation), in: &self).index
    case .remap(let va, let keep, let prev, let next):
      return handler.remap(
        RemapStep(unmap: va, keep: keep, prev: prev, next: next, obligation: obligation),
        in: &self
      ).index
    case .unmap(let va, let keep):
      return handler.unmap(UnmapStep(va: va, keep: keep, obligation: obligation), in: &self).index
    }
  }

  /// Inserts a VA a current plan produced (it cannot overlap).
  mutating func insertPlanned(_ va: GPUVA) {
    if let existing = tree.insert(va) {
      fatalError("GPUVASpace: a planned VA \(va) overlaps \(existing): the plan was stale")
    }
  }

  /// Removes a VA a current plan named.
  mutating func removePlanned(_ va: GPUVA) {
    guard tree.remove(at: va.address) == va else {
      fatalError("GPUVASpace: the planned VA \(va) is not in the tree: the plan was stale")
    }
  }
}
