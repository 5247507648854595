import PageTables

/// Walks the page tables in an input's physical memory with its own bounded
/// reader over the image bytes, using only the format description's decode
/// functions — never the engine's table memory, which trusts its addresses.
///
/// ```swift
/// let source = try DumpSource.open(path: "tables.img")
/// let result = try TableWalker(source).walk()
/// for run in result.runs { print(ValueText.hex(run.virtualAddress), run.size) }
/// for finding in result.findings { print(finding) }   // bad entries, with addresses
/// ```
///
/// Hostile input is expected: a table pointer outside the image, a pointer back
/// to a table above it (a loop), a table reached a second time, a reserved
/// encoding, or a table cut short by the end of the file is a ``Finding`` with the
/// address of the bad entry, and the walk goes on with the next entry. Each table
/// is read at most once, so the walk ends after at most (image size / table size)
/// tables, and the findings kept are capped at ``maximumFindings``.
public struct TableWalker: Sendable {
  /// The memory, format and roots.
  public let source: DumpSource
  /// The format, resolved.
  public let format: ResolvedFormat
  /// The most findings kept (all are counted).
  public var maximumFindings = 1000
  /// How many tables the walk reads between two calls of its progress callback.
  public var progressInterval = 256

  /// A walker over `source`.
  ///
  /// - Throws: ``ImageError/format(_:)`` if the source's format does not resolve.
  public init(_ source: DumpSource) throws(ImageError) {
    self.source = source
    self.format = try source.format.resolve()
  }

  /// Virtual-address bits the root tables index, with the root-select bits.
  var indexBits: Int { format.geometry.rootCoverageBits + format.geometry.rootSelectBits }

  /// The address software uses for a walk offset: unchanged when a window holds
  /// it, otherwise sign-extended (the upper half of x86-64 or RISC-V, ARM64's
  /// TTBR1 window).
  func externalAddress(_ offset: UInt64) -> UInt64 {
    let windows = format.geometry.windows
    if windows.contains(where: { $0.contains(offset) }) || indexBits >= 64 { return offset }
    let extended = offset | ~((1 << UInt64(indexBits)) - 1)
    return windows.contains(where: { $0.contains(extended) }) ? extended : offset
  }

  /// Walks every root.
  ///
  /// - Parameter progress: called every ``progressInterval`` tables with how far
  ///   the walk has come (for a terminal's progress line), and once at the end.
  public func walk(progress: ((WalkProgress) -> Void)? = nil) -> WalkResult {
    var state = WalkState(walker: self, progress: progress)
    let geometry = format.geometry
    for (index, root) in source.roots.enumerated() {
      let base = UInt64(index) << UInt64(geometry.rootCoverageBits)
      state.walkTable(
        at: root, level: 0, base: base, pointer: (root, nil), ancestors: [], parent: nil)
    }
    state.reportProgress(virtualAddress: nil, finished: true)
    return state.result
  }
}

/// The walk's mutable state: what was found and which tables were read.
struct WalkState {
  let walker: TableWalker
  let progress: ((WalkProgress) -> Void)?
  var result = WalkResult()
  var visited: [UInt64: UInt64] = [:]

  init(walker: TableWalker, progress: ((WalkProgress) -> Void)?) {
    self.walker = walker
    self.progress = progress
  }

  mutating func report(
    _ address: UInt64, _ entry: UInt64?, _ level: Int, _ offset: UInt64, _ message: String
  ) {
    result.findingCount += 1
    if result.findings.count < walker.maximumFindings {
      result.findings.append(
        Finding(
          entryAddress: address, entry: entry, level: level,
          virtualAddress: walker.externalAddress(offset), message: message))
    }
  }

  /// Reads the table at `address` (level `level`, covering walk offsets from
  /// `base`), which the entry at `pointer.address` (holding `pointer.entry`, nil for a
  /// root register) points at.
  mutating func walkTable(
    at address: UInt64, level: Int, base: UInt64, pointer: (address: UInt64, entry: UInt64?),
    ancestors: [UInt64], parent: Int?
  ) {
    let geometry = walker.format.geometry
    let levelGeometry = geometry.levels[level]
    let bytes = level == 0 ? geometry.rootTableBytes : levelGeometry.tableBytes
    let pointerLevel = max(level - 1, 0)
    let memory = walker.source.memory
    if ancestors.contains(address) {
      report(
        pointer.address, pointer.entry, pointerLevel, base,
        "loop: points back at the level-\(ancestors.firstIndex(of: address) ?? 0) table at \(hex(address)) above it"
      )
      return
    }
    if let first = visited[address] {
      report(
        pointer.address, pointer.entry, pointerLevel, base,
        "table at \(hex(address)) reached twice (first for va \(hex(walker.externalAddress(first)))): not walked again"
      )
      return
    }
    guard address % UInt64(min(bytes, 4096)) == 0 else {
      report(
        pointer.address, pointer.entry, pointerLevel, base,
        "table address \(hex(address)) is misaligned")
      return
    }
    guard memory.contains(address, count: UInt64(bytes)) else {
      report(
        pointer.address, pointer.entry, pointerLevel, base,
        "table at \(hex(address)) (\(bytes) bytes) is outside the image")
      return
    }
    visited[address] = base
    let record = result.tables.count
    result.tables.append(
      TableRecord(
        physicalAddress: address, level: level, virtualAddress: walker.externalAddress(base),
        byteCount: bytes, entryCount: levelGeometry.entryCount, usedEntries: 0, parent: parent))
    if progress != nil, result.tables.count % max(walker.progressInterval, 1) == 0 {
      reportProgress(virtualAddress: walker.externalAddress(base), finished: false)
    }
    let format = walker.format.format
    let isLast = level == geometry.levels.count - 1
    let shift = UInt64(levelGeometry.shift)
    var used = 0
    for index in 0..<levelGeometry.entryCount {
      let entryAddress = address + UInt64(index) * 8
      let slot = base &+ (UInt64(index) << shift)
      guard let entry = memory.word(at: entryAddress) else {
        report(entryAddress, nil, level, slot, "entry outside the image")
        continue
      }
      if entry == 0 { continue }
      if let reason = walker.format.reservedEncoding(entry, level: level) {
        used += 1
        report(entryAddress, entry, level, slot, reason)
        continue
      }
      switch format.kind(of: entry, level: level) {
      case .empty:
        continue
      case .leaf:
        used += 1
        guard levelGeometry.allowsLeaf else {
          report(entryAddress, entry, level, slot, "a leaf at a level that has none")
          continue
        }
        addLeaf(entry: entry, level: level, slot: slot, size: levelGeometry.leafSize)
      case .table:
        used += 1
        guard !isLast else {
          report(entryAddress, entry, level, slot, "a table pointer at the last level")
          continue
        }
        walkTable(
          at: format.tableAddress(of: entry, level: level), level: level + 1, base: slot,
          pointer: (entryAddress, entry), ancestors: ancestors + [address], parent: record)
      }
    }
    result.tables[record].usedEntries = used
  }

  /// Calls the progress callback, if any, with the counts so far.
  func reportProgress(virtualAddress: UInt64?, finished: Bool) {
    guard let progress else { return }
    progress(
      WalkProgress(
        tables: result.tables.count, runs: result.runs.count, tableBytes: result.tableBytes,
        findings: result.findingCount, virtualAddress: virtualAddress, finished: finished))
  }

  mutating func addLeaf(entry: UInt64, level: Int, slot: UInt64, size: UInt64) {
    let format = walker.format.format
    let physical = format.outputAddress(of: entry, level: level, virtualAddress: slot)
    let protection = format.protection(of: entry, level: level)
    let flags = walker.format.flags(of: entry, level: level)
    let virtual = walker.externalAddress(slot)
    if let last = result.runs.last, last.level == level, last.protection == protection,
      last.flags == flags, last.virtualAddress &+ last.size == virtual,
      last.physicalAddress &+ last.size == physical
    {
      result.runs[result.runs.count - 1].size &+= size
      return
    }
    result.runs.append(
      DumpRun(
        virtualAddress: virtual, physicalAddress: physical, size: size, level: level,
        pageSize: size,
        protection: protection, flags: flags))
  }
}
