extension ARM64Format {
  /// The translation granule: the smallest page, and the size of a full table
  /// (TCR_ELx.TGx, VTCR_EL2.TG0).
  public enum Granule: Int, Hashable, Sendable, CaseIterable {
    /// 4 KiB pages; 512 entries per table; blocks of 2 MiB and 1 GiB (512 GiB with LPA2).
    case k4 = 12
    /// 16 KiB pages; 2048 entries per table; blocks of 32 MiB (64 GiB with LPA2).
    case k16 = 14
    /// 64 KiB pages; 8192 entries per table; blocks of 512 MiB (4 TiB with 52-bit output).
    case k64 = 16

    /// log2 of the page size.
    public var pageShift: Int { rawValue }
    /// Input-address bits one table level resolves (`pageShift - 3`).
    public var stride: Int { rawValue - 3 }
    /// The page size in bytes.
    public var bytes: UInt64 { 1 << UInt64(rawValue) }
  }

  /// Which translation stage the tables are for.
  public enum Stage: Int, Hashable, Sendable {
    /// Stage 1: virtual to (intermediate) physical addresses, with EL0/EL1 permissions
    /// and MAIR-indexed memory types (TTBR0_ELx/TTBR1_ELx, TCR_ELx).
    case one = 1
    /// Stage 2: intermediate physical to physical addresses, for a hypervisor or an
    /// SMMU (VTTBR_EL2, VTCR_EL2); memory types in the entry, no EL0/EL1 split.
    case two = 2
  }

  /// Which stage-1 translation table base register the table serves.
  public enum TranslationBase: Hashable, Sendable {
    /// TTBR0: the lower window `[0, 2^inputBits)`.
    case ttbr0
    /// TTBR1: the upper window `[2^64 - 2^inputBits, 2^64)` (stage 1 only).
    case ttbr1
  }

  /// How an output address is split over an entry's bits.
  @usableFromInline
  enum AddressEncoding: Sendable {
    /// OA[47:pageShift] in bits [47:pageShift].
    case standard
    /// FEAT_LPA with the 64K granule: OA[47:16] in place, OA[51:48] in bits [15:12].
    case lpa
    /// FEAT_LPA2 (TCR.DS = 1) with 4K/16K: OA[49:pageShift] in place, OA[51:50] in
    /// bits [9:8] (which then hold no shareability).
    case lpa2
  }

  /// The output-address sizes TCR_ELx.{I}PS and VTCR_EL2.PS can select.
  public static var outputSizes: [Int] { [32, 36, 40, 42, 44, 48, 52] }

  /// The architectural level (−1…3) of the root table: the stage-1 start level
  /// `3 - (inputBits - 1 - pageShift) / stride` (Arm ARM `AArch64.S1StartLevel`),
  /// one level lower at stage 2 when up to 16 concatenated tables replace that
  /// level (R_SRKBC, `AArch64.S2InconsistentSL`).
  static func startLevel(granule: Granule, stage: Stage, inputBits: Int) -> Int {
    var level = 3 - (inputBits - 1 - granule.pageShift) / granule.stride
    if stage == .two && level < 3 {
      // Concatenate when the next level down needs at most 16 tables.
      if inputBits - shift(of: level + 1, granule) <= granule.stride + 4 { level += 1 }
    }
    return level
  }

  /// The lowest input-address bit a table at architectural `level` indexes.
  static func shift(of level: Int, _ granule: Granule) -> Int {
    granule.pageShift + (3 - level) * granule.stride
  }

  /// Whether a block descriptor is allowed at architectural `level` (Arm ARM
  /// `AArch64.BlockDescSupported`: 4K L1–L2 and L0 with DS; 16K L2 and L1 with DS;
  /// 64K L2 and L1 when the PA size is 52 bits).
  static func allowsBlock(
    at level: Int, granule: Granule, encoding: AddressEncoding, outputBits: Int
  ) -> Bool {
    switch granule {
    case .k4: return level == 1 || level == 2 || (level == 0 && encoding == .lpa2)
    case .k16: return level == 2 || (level == 1 && encoding == .lpa2)
    case .k64: return level == 2 || (level == 1 && outputBits == 52)
    }
  }

  /// Entries in a contiguous set at architectural `level`, or 1 where the Contiguous
  /// bit is RES0 (Arm ARM D8.6.1, `ContiguousSize`: 4K 16 entries at L1–L3; 16K 32 at
  /// L2 and 128 at L3; 64K 32 at L2–L3; RES0 for the LPA/LPA2-only blocks).
  static func contiguousEntries(at level: Int, granule: Granule) -> Int {
    switch granule {
    case .k4: return level >= 1 ? 16 : 1
    case .k16: return level == 3 ? 128 : level == 2 ? 32 : 1
    case .k64: return level >= 2 ? 32 : 1
    }
  }

  /// The levels from the root down to the pages.
  static func levels(
    granule: Granule, startLevel: Int, inputBits: Int, encoding: AddressEncoding,
    outputBits: Int
  ) -> [LevelGeometry] {
    var levels: [LevelGeometry] = []
    for level in startLevel...3 {
      let shift = shift(of: level, granule)
      let indexBits = level == startLevel ? inputBits - shift : granule.stride
      let leaf =
        level == 3
        || allowsBlock(at: level, granule: granule, encoding: encoding, outputBits: outputBits)
      var run = leaf ? contiguousEntries(at: level, granule: granule) : 1
      // A set larger than the table (a small root) can never be written.
      if run > 1 << indexBits { run = 1 }
      levels.append(
        LevelGeometry(shift: shift, indexBits: indexBits, allowsLeaf: leaf, contiguousRun: run))
    }
    return levels
  }
}
