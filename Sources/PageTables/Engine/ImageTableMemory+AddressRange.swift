extension ImageTableMemory {
  /// The image's physical addresses, `base` to `base + byteCount - 1`.
  public var tableAddressRange: ClosedRange<UInt64>? {
    guard byteCount > 0 else { return nil }
    let (last, overflow) = base.addingReportingOverflow(UInt64(byteCount) &- 1)
    return overflow ? base...UInt64.max : base...last
  }
}
