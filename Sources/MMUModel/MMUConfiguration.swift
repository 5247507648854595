import PageTables

/// How the model's TLB and walk caches are shaped, and how the checker reacts.
///
/// ```swift
/// var configuration = MMUConfiguration()
/// configuration.tlbEntries = 1024
/// configuration.tlbWays = 8
/// configuration.replacement = .random(seed: 7)
/// configuration.checking = .strict          // trap at the first report
/// ```
public struct MMUConfiguration: Hashable, Sendable {
  /// Which way of a full TLB set a new entry replaces.
  public enum Replacement: Hashable, Sendable {
    /// The way used least recently.
    case leastRecentlyUsed
    /// The way filled first.
    case firstInFirstOut
    /// A pseudo-random way (a fixed seed makes runs repeatable).
    case random(seed: UInt64)
  }

  /// What the checker does.
  public enum Checking: Hashable, Sendable {
    /// No checking: a plain TLB and walker (the fastest).
    case off
    /// Every finding is kept as an ``MMUReport`` (read ``MMU/reports``).
    case report
    /// The first finding traps with its description (for tests that must stop there).
    case strict
  }

  /// Total TLB entries (a power of two, at least `tlbWays`).
  public var tlbEntries: Int
  /// TLB associativity: ways per set (a power of two).
  public var tlbWays: Int
  /// Replacement within a set.
  public var replacement: Replacement
  /// Walk-cache entries per intermediate level (fully associative, LRU).
  public var walkCacheEntries: Int
  /// Whether a contiguous run (ARM64 contiguous hint, RISC-V Svnapot) is cached as one
  /// entry for the whole run, as real cores may.
  public var cacheContiguousRuns: Bool
  /// What the checker does.
  public var checking: Checking
  /// Treat every translation that was valid since the last covering invalidation as
  /// possibly cached, as the architecture allows (speculative walks, prefetch):
  /// accessing or freeing it before the invalidation is reported even if the model's
  /// own TLB happens not to hold it.
  public var assumeSpeculativeFills: Bool
  /// The hardware implements FEAT_BBM level 2: under Arm's break-before-make rule, a
  /// block may be replaced by a table (and a contiguous run by plain leaves) without
  /// an invalid entry in between, as `PageTableOptions.hasBBMLevel2` lets the
  /// engine do.
  public var hasBBMLevel2: Bool
  /// The architecture's rule for replacing a live entry, if not the one the model
  /// knows: Arm's break-before-make for `ARM64Format` (whatever the description
  /// declares), the format's own `liveEntryRule` otherwise.
  public var liveEntryRule: LiveEntryRule?

  /// A configuration; the defaults are a 256-entry 4-way LRU TLB, 16 walk-cache
  /// entries per level, runs cached whole, and checking that reports.
  public init(
    tlbEntries: Int = 256, tlbWays: Int = 4, replacement: Replacement = .leastRecentlyUsed,
    walkCacheEntries: Int = 16, cacheContiguousRuns: Bool = true, checking: Checking = .report,
    assumeSpeculativeFills: Bool = true, hasBBMLevel2: Bool = false,
    liveEntryRule: LiveEntryRule? = nil
  ) {
    self.tlbEntries = tlbEntries
    self.tlbWays = tlbWays
    self.replacement = replacement
    self.walkCacheEntries = walkCacheEntries
    self.cacheContiguousRuns = cacheContiguousRuns
    self.checking = checking
    self.assumeSpeculativeFills = assumeSpeculativeFills
    self.hasBBMLevel2 = hasBBMLevel2
    self.liveEntryRule = liveEntryRule
  }

  /// Whether the shape is one the model can build; the reason if not.
  var problem: String? {
    if tlbWays < 1 || tlbWays & (tlbWays - 1) != 0 { return "tlbWays must be a power of two" }
    if tlbEntries < tlbWays || tlbEntries & (tlbEntries - 1) != 0 {
      return "tlbEntries must be a power of two, at least tlbWays"
    }
    if walkCacheEntries < 0 { return "walkCacheEntries must not be negative" }
    return nil
  }
}

/// A configuration the model cannot build.
public enum MMUConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The TLB or walk-cache shape is not valid; the text says which field.
  case invalidShape(String)

  public var description: String {
    switch self {
    case .invalidShape(let reason): "MMU configuration: \(reason)"
    }
  }
}
