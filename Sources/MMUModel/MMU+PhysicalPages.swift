import PageTables
import PhysicalPages

extension MMU {
  /// Has `physicalMemory` tell the model of every block it frees from now on (its
  /// `PhysicalMemory.setFreeObserver(_:)`, replacing any other
  /// observer), so a data page freed while a leaf or a TLB entry still maps it, or a
  /// table page freed while the hardware can still reach it, is reported without an
  /// explicit ``pageFreed(physicalAddress:byteCount:)``.
  ///
  /// ```swift
  /// let ram = try PhysicalMemory()
  /// let mmu = try MMU(format: format, memory: PhysicalPageTableMemory(ram))
  /// mmu.observeFrees(of: ram)
  /// // … a page still mapped is freed through PhysicalPages …
  /// #expect(mmu.reports.first?.rule == .mappedPageFreed)
  /// mmu.stopObservingFrees(of: ram)
  /// ```
  ///
  /// The machine holds the model weakly. A table freed through ``observing(_:)``
  /// memory whose base frees it to `physicalMemory` at once is told twice in a row
  /// (by both), and judged once.
  public func observeFrees(of physicalMemory: PhysicalMemory) {
    physicalMemory.setFreeObserver { [weak self] address, byteCount in
      self?.pageFreed(physicalAddress: address.rawValue, byteCount: UInt64(byteCount))
    }
  }

  /// Removes the free observer of `physicalMemory` (installed by
  /// ``observeFrees(of:)``).
  public func stopObservingFrees(of physicalMemory: PhysicalMemory) {
    physicalMemory.setFreeObserver(nil)
  }
}
