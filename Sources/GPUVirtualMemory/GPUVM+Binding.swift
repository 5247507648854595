import PageTables

extension GPUVM {
  /// Plans, prepares, commits and completes one request: the whole bind of a
  /// `VM_BIND` ioctl in one call.
  /// - Throws: what planning or ``prepare(_:)`` throws; nothing changed then.
  @discardableResult
  public func bind(_ plan: GPUVAPlan) throws(GPUVMError) -> BindReport {
    complete(commit(try prepare(plan)))
  }

  /// Maps `range` bytes of `object` from `offset` at `address`.
  @discardableResult
  public func bind(
    _ object: BufferObject, offset: UInt64 = 0, at address: UInt64, range: UInt64,
    protection: Protection = .readWrite
  ) throws(GPUVMError) -> BindReport {
    try bind(
      space.planMap(
        MapRequest(
          address: address, range: range, backing: .object(object.id, offset: offset),
          protection: protection)))
  }

  /// Maps `object`'s bytes `[offset, offset + window)` over and over across
  /// `[address, address + range)` (Asahi's `one_page` sparse binds).
  @discardableResult
  public func bindRepeated(
    _ object: BufferObject, offset: UInt64 = 0, window: UInt64, at address: UInt64,
    range: UInt64, protection: Protection = .readWrite
  ) throws(GPUVMError) -> BindReport {
    try bind(
      space.planMap(
        MapRequest(
          address: address, range: range,
          backing: .repeated(object.id, offset: offset, range: window), protection: protection)))
  }

  /// Reserves `[address, address + range)` as a sparse VA that maps nothing.
  @discardableResult
  public func bindSparse(at address: UInt64, range: UInt64) throws(GPUVMError) -> BindReport {
    try bind(space.planMap(MapRequest(address: address, range: range, backing: .sparse)))
  }

  /// Unmaps `[address, address + range)` (splitting VAs that reach out of it).
  @discardableResult
  public func unbind(at address: UInt64, range: UInt64) throws(GPUVMError) -> BindReport {
    try bind(space.planUnmap(address: address, range: range))
  }

  /// Splits the sparse VAs at the edges of `[address, address + range)` so that the
  /// inside pieces take `protection` (drm_gpuvm's madvise).
  @discardableResult
  public func madvise(at address: UInt64, range: UInt64, protection: Protection)
    throws(GPUVMError) -> BindReport
  {
    try bind(space.planMadvise(address: address, range: range, protection: protection))
  }
}
