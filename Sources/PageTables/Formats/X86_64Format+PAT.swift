extension X86_64Format {
  /// Which of the eight page-attribute-table entries the format uses for each
  /// ``MemoryType``, and the `IA32_PAT` MSR (0x277) value that gives those entries
  /// their meaning.
  ///
  /// A leaf selects PAT entry `PAT << 2 | PCD << 1 | PWT` (Intel SDM vol. 3A,
  /// "Page Attribute Table (PAT)", "Selecting a Memory Type from the PAT"). Memory types in the
  /// MSR: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC-.
  ///
  /// ```swift
  /// let format = try X86_64Format(pat: .writeCombiningAtIndex4)
  /// wrmsr(0x277, format.pat.msrValue)   // before the tables are used
  /// ```
  ///
  /// Decoding (``X86_64Format/protection(of:level:)``) reads the type from the
  /// MSR value, so any of the eight entries decodes sensibly: WB, WT and WP are
  /// ``MemoryType/normal``, WC and UC- ``MemoryType/uncached``, UC
  /// ``MemoryType/device``.
  public enum PATLayout: Hashable, Sendable {
    /// The architectural power-on value (WB, WT, UC-, UC, WB, WT, UC-, UC), so no
    /// MSR write is needed: normal is entry 0 (WB), uncached entry 2 (UC-, PCD),
    /// device entry 3 (UC, PCD | PWT).
    case powerOnDefault
    /// Linux's layout (WB, WC, UC-, UC, WB, WP, UC-, WT): normal is entry 0 (WB),
    /// uncached entry 1 (write-combining, PWT), device entry 3 (UC, PCD | PWT).
    case linux
    /// The power-on layout with entry 4 changed to write-combining: normal is
    /// entry 0 (WB), uncached entry 4 (WC, the PAT bit), device entry 3 (UC).
    /// Entries 0–3 keep their power-on meaning, so tables using this layout are
    /// still correct (WB instead of WC) before the MSR is written.
    case writeCombiningAtIndex4

    /// The `IA32_PAT` value this layout assumes, entry 0 in the low byte.
    public var msrValue: UInt64 {
      switch self {
      case .powerOnDefault: 0x0007_0406_0007_0406
      case .linux: 0x0407_0506_0007_0106
      case .writeCombiningAtIndex4: 0x0007_0401_0007_0406
      }
    }

    /// The PAT entry leaves of `memoryType` select.
    @inline(__always)
    public func index(for memoryType: MemoryType) -> Int {
      switch (self, memoryType) {
      case (_, .normal): 0
      case (_, .device): 3
      case (.powerOnDefault, .uncached): 2
      case (.linux, .uncached): 1
      case (.writeCombiningAtIndex4, .uncached): 4
      }
    }

    /// The memory type PAT entry `index` (0...7) gives, by its MSR type.
    public func memoryType(atIndex index: Int) -> MemoryType {
      switch (msrValue >> UInt64(8 * index)) & 0x7 {
      case 0: .device  // UC
      case 1, 7: .uncached  // WC, UC-
      default: .normal  // WT, WP, WB
      }
    }
  }
}
