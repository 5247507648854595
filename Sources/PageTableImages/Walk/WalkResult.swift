import PageTables

/// A problem found inside the tables of an input: what a hostile or corrupt dump
/// contains. The walk reports it and goes on.
public struct Finding: Hashable, Sendable, CustomStringConvertible {
  /// The physical address of the bad entry (or of the bad table's root pointer).
  public var entryAddress: UInt64
  /// The raw entry, when it could be read.
  public var entry: UInt64?
  /// The level of the table holding the entry (0 is the root).
  public var level: Int
  /// The first virtual address the entry covers.
  public var virtualAddress: UInt64
  /// What is wrong.
  public var message: String

  /// Makes one from its parts.
  public init(
    entryAddress: UInt64, entry: UInt64?, level: Int, virtualAddress: UInt64, message: String
  ) {
    self.entryAddress = entryAddress
    self.entry = entry
    self.level = level
    self.virtualAddress = virtualAddress
    self.message = message
  }

  public var description: String {
    let raw = entry.map { " entry \(hex($0))" } ?? ""
    return "\(hex(entryAddress)) (level \(level), va \(hex(virtualAddress)))\(raw): \(message)"
  }
}

/// Mapped virtual addresses merged into a run: consecutive leaves of one level
/// mapping consecutive physical addresses with one protection and the same flags.
public struct DumpRun: Hashable, Sendable {
  /// The first virtual address.
  public var virtualAddress: UInt64
  /// The physical address it maps to.
  public var physicalAddress: UInt64
  /// Bytes in the run.
  public var size: UInt64
  /// The level of its leaves (0 is the root).
  public var level: Int
  /// The size of each leaf (page or block).
  public var pageSize: UInt64
  /// What the mapping allows, with its memory type.
  public var protection: Protection
  /// Accessed, dirty, contiguous.
  public var flags: LeafFlags

  /// Makes one from its parts.
  public init(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int, pageSize: UInt64,
    protection: Protection, flags: LeafFlags
  ) {
    self.virtualAddress = virtualAddress
    self.physicalAddress = physicalAddress
    self.size = size
    self.level = level
    self.pageSize = pageSize
    self.protection = protection
    self.flags = flags
  }

  /// The last virtual address of the run.
  public var lastVirtualAddress: UInt64 { virtualAddress &+ (size &- 1) }
}

/// One table page the walk read: for the occupancy picture.
public struct TableRecord: Hashable, Sendable {
  /// Its physical address.
  public var physicalAddress: UInt64
  /// Its level (0 is the root).
  public var level: Int
  /// The first virtual address it covers.
  public var virtualAddress: UInt64
  /// Its size in bytes.
  public var byteCount: Int
  /// Entries it has (that translate).
  public var entryCount: Int
  /// Entries that are not empty.
  public var usedEntries: Int
  /// The index of the table pointing at it in ``WalkResult/tables``, `nil` for a root.
  public var parent: Int?
}

/// Everything a walk of an input found.
public struct WalkResult: Sendable {
  /// The mappings, in virtual-address order.
  public var runs: [DumpRun] = []
  /// The first findings (at most the walker's limit).
  public var findings: [Finding] = []
  /// How many findings there were in all.
  public var findingCount = 0
  /// Every table read, parents before children.
  public var tables: [TableRecord] = []

  /// An empty result.
  public init() {}

  /// Bytes of memory the tables take.
  public var tableBytes: Int { tables.reduce(0) { $0 + $1.byteCount } }
}

/// How far a long walk has come: what ``TableWalker/walk(progress:)`` hands its
/// callback.
///
/// ```swift
/// let result = try TableWalker(source).walk { progress in
///   print(progress.line)   // every 256 tables, then once at the end:
///   // walking: 256 tables (1 MiB), 1 runs, 0 findings, va 0x5f80_0000
///   // walked: 515 tables (2060 KiB), 1 runs, 0 findings
/// }
/// ```
public struct WalkProgress: Sendable, Equatable {
  /// Tables read so far.
  public var tables: Int
  /// Runs found so far.
  public var runs: Int
  /// Bytes of the tables read so far.
  public var tableBytes: Int
  /// Findings so far.
  public var findings: Int
  /// The first virtual address the table just read covers (nil at the end).
  public var virtualAddress: UInt64?
  /// Whether the walk is over (the last call).
  public var finished: Bool

  /// Makes one from its parts.
  public init(
    tables: Int, runs: Int, tableBytes: Int, findings: Int, virtualAddress: UInt64?,
    finished: Bool
  ) {
    self.tables = tables
    self.runs = runs
    self.tableBytes = tableBytes
    self.findings = findings
    self.virtualAddress = virtualAddress
    self.finished = finished
  }

  /// One line for a terminal or a log: `walking: 512 tables (2 MiB), 3 runs, 0
  /// findings, va 0x7f80_0000` (the walk goes in address order), or `walked: …`
  /// without the address at the end.
  public var line: String {
    let position = virtualAddress.map { ", va \(hex($0))" } ?? ""
    return
      "\(finished ? "walked" : "walking"): \(tables) tables (\(ValueText.size(UInt64(tableBytes)))), "
      + "\(runs) runs, \(findings) findings\(position)"
  }
}
