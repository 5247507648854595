/// Where a block was allocated (`#fileID` and `#line`), recorded when the machine's
/// `recordAllocationSites` option is on.
public struct AllocationSite: Hashable, Sendable, CustomStringConvertible {
  /// The allocating source file, as `#fileID` (`Module/File.swift`).
  public var fileID: String
  /// The allocating line.
  public var line: Int

  init(fileID: StaticString, line: UInt) {
    self.fileID = fileID.description
    self.line = Int(line)
  }

  /// `Module/File.swift:42`.
  public var description: String { "\(fileID):\(line)" }
}

/// The blocks of a machine that are allocated right now: what would leak if the
/// machine went away. ``PhysicalMemory`` prints it to standard error when it is
/// deinitialised with blocks still allocated.
///
/// ```swift
/// let report = memory.leakReport()
/// for entry in report.entries { print(entry.frameNumber, entry.allocationSite as Any) }
/// ```
///
/// Pages in per-thread caches are free, not leaked, and are not listed.
public struct LeakReport: Sendable, CustomStringConvertible {
  /// One allocated block.
  public struct Entry: Sendable, Equatable {
    /// The page frame number of the block's first page.
    public var frameNumber: UInt64
    /// The physical address of the block.
    public var physicalAddress: PhysicalAddress
    /// The block's order (2^order pages).
    public var order: Int
    /// The block's reference count.
    public var referenceCount: Int
    /// Whether the block was handed out with `intoPhysicalAddress()`.
    public var isHandedOut: Bool
    /// Who allocated it, when sites are recorded.
    public var allocationSite: AllocationSite?
  }

  /// The allocated blocks, by ascending address.
  public var entries: [Entry]

  /// Whether nothing is allocated.
  public var isEmpty: Bool { entries.isEmpty }

  /// The number of pages in allocated blocks.
  public var pageCount: Int { entries.reduce(0) { $0 + (1 << $1.order) } }

  /// The frame numbers of the allocated blocks.
  public var frameNumbers: [UInt64] { entries.map(\.frameNumber) }

  /// One line per block: frame, address, order, count, hand-out and site.
  public var description: String {
    var lines = ["\(entries.count) block(s), \(pageCount) page(s) still allocated:"]
    for entry in entries {
      var line =
        "  \(frameDescription(entry.frameNumber)) at \(entry.physicalAddress), order \(entry.order),"
        + " refcount \(entry.referenceCount)"
      if entry.isHandedOut { line += ", handed out as physical address" }
      if let site = entry.allocationSite { line += ", allocated at \(site)" }
      lines.append(line)
    }
    return lines.joined(separator: "\n")
  }
}

extension PhysicalMemory {
  /// The blocks allocated right now (a snapshot; O(frames ever used)).
  public func leakReport() -> LeakReport {
    core.leakReport()
  }
}

extension MemoryCore {
  func leakReport() -> LeakReport {
    let frontier = buddy.withAnnotatedLock { $0.frontier }
    let sites = sites.withAnnotatedLock { $0 }
    var entries: [LeakReport.Entry] = []
    var index = 0
    while index < frontier {
      let flags = flags(index)
      if flags.state == .allocated {
        entries.append(
          LeakReport.Entry(
            frameNumber: frameNumber(index), physicalAddress: physicalAddress(index),
            order: flags.order,
            referenceCount: Int(
              unsafe descriptor(index).pointee.referenceCount.load(ordering: .relaxed)),
            isHandedOut: flags.isHandedOut, allocationSite: sites[index]))
      }
      index += flags.state == .tail ? 1 : 1 << flags.order
    }
    return LeakReport(entries: entries)
  }
}
