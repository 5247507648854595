extension PhysicalMemory {
  /// The shape of a simulated machine's RAM and the allocator's debug options.
  ///
  /// ```swift
  /// var configuration = PhysicalMemory.Configuration.default
  /// configuration.byteCount = 64 << 30  // a 64 GiB machine costs only what is touched
  /// configuration.poisonFreedPages = true
  /// let memory = try PhysicalMemory(configuration: configuration)
  /// ```
  ///
  /// ## Invariants (checked by `PhysicalMemory.init`)
  /// - `pageSize` is 4096, 16384 or 65536.
  /// - `byteCount` is a positive multiple of `pageSize`, at most 2^31 pages.
  /// - `baseAddress` is aligned to the largest block (`pageSize << maxOrder`), so
  ///   blocks are naturally aligned in physical address space, and RAM does not wrap.
  /// - `vmallocAreaByteCount` is a positive multiple of `pageSize`.
  public struct Configuration: Sendable, Equatable {
    /// The physical address of the first byte of RAM (default `0x8000_0000`).
    public var baseAddress: PhysicalAddress
    /// The size of RAM in bytes (default 64 MiB).
    public var byteCount: Int
    /// The page size in bytes: 4096 (default), 16384 or 65536.
    public var pageSize: Int
    /// The size of the virtual range reserved (lazily) for vmalloc buffers (default 256 MiB).
    public var vmallocAreaByteCount: Int
    /// Debug: fill freed blocks with a poison pattern and verify it when they are allocated
    /// again; a block modified after free makes the allocation throw
    /// ``PageError/poisonOverwritten(frame:offset:)`` and is quarantined.
    public var poisonFreedPages: Bool
    /// Debug: remember the `#fileID` and `#line` of each allocation for the leak report.
    public var recordAllocationSites: Bool

    /// A configuration; every argument has the default machine's value.
    public init(
      baseAddress: PhysicalAddress = 0x8000_0000, byteCount: Int = 64 << 20,
      pageSize: Int = 4096, vmallocAreaByteCount: Int = 256 << 20,
      poisonFreedPages: Bool = false, recordAllocationSites: Bool = false
    ) {
      self.baseAddress = baseAddress
      self.byteCount = byteCount
      self.pageSize = pageSize
      self.vmallocAreaByteCount = vmallocAreaByteCount
      self.poisonFreedPages = poisonFreedPages
      self.recordAllocationSites = recordAllocationSites
    }

    /// The default machine: 64 MiB of 4 KiB pages at `0x8000_0000`.
    public static var `default`: Configuration { Configuration() }

    /// Checks the invariants above.
    func validate() throws(PageError) {
      guard pageSize == 4096 || pageSize == 16384 || pageSize == 65536 else {
        throw .invalidPageSize(pageSize)
      }
      guard byteCount > 0, byteCount % pageSize == 0, byteCount / pageSize <= 1 << 31 else {
        throw .invalidMemorySize(byteCount)
      }
      let largestBlock = UInt64(pageSize) << UInt64(PhysicalMemory.maxOrder)
      let (end, overflow) = baseAddress.rawValue.addingReportingOverflow(UInt64(byteCount))
      guard baseAddress.rawValue % largestBlock == 0, !overflow, end != 0 || byteCount == 0
      else {
        throw .misalignedBaseAddress(baseAddress)
      }
      guard vmallocAreaByteCount > 0, vmallocAreaByteCount % pageSize == 0 else {
        throw .invalidVmallocAreaSize(vmallocAreaByteCount)
      }
    }
  }
}
