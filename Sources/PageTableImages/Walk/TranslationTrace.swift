import PageTables

/// One virtual address's walk, level by level, as the hardware would do it:
/// each entry's address, its raw value and what it means, ending in the
/// physical address or the fault the hardware would raise.
///
/// ```swift
/// let trace = try TableWalker(source).translate(0xffff_8000_0000_1234)
/// for line in trace.lines { print(line) }
/// if case .mapped(let physical, _, _, _) = trace.outcome { print(physical) }
/// ```
public struct TranslationTrace: Sendable {
  /// One level of the walk.
  public struct Step: Sendable {
    /// The level (0 is the root).
    public var level: Int
    /// The physical address of the entry read.
    public var entryAddress: UInt64
    /// Its index in its table.
    public var index: Int
    /// The raw entry, or `nil` when it is outside the image.
    public var entry: UInt64?
    /// What the entry means.
    public var meaning: String
  }

  /// Where the walk ended.
  public enum Outcome: Sendable {
    /// The address translates: the physical address, the page size, what it
    /// allows and its flags.
    case mapped(physicalAddress: UInt64, pageSize: UInt64, protection: Protection, flags: LeafFlags)
    /// The hardware would fault, for this reason.
    case fault(String)
  }

  /// The address translated.
  public var virtualAddress: UInt64
  /// The levels read.
  public var steps: [Step]
  /// The result.
  public var outcome: Outcome

  /// The trace as text: a heading, one line per level, the result.
  public var lines: [String] {
    var lines = ["\(hex(virtualAddress)):"]
    for step in steps {
      let raw = step.entry.map { hex($0) } ?? "(outside the image)"
      lines.append(
        "  level \(step.level) entry \(step.index) at \(hex(step.entryAddress)) = \(raw): \(step.meaning)"
      )
    }
    switch outcome {
    case .mapped(let physical, let size, let protection, let flags):
      lines.append(
        "  -> \(hex(physical)) (\(ValueText.size(size)) page, \(DumpReport.letters(protection)) \(protection.memoryType), \(DumpReport.flagLetters(flags)))"
      )
    case .fault(let reason):
      lines.append("  -> fault: \(reason)")
    }
    return lines
  }
}

extension TableWalker {
  /// Walks one virtual address from the root its top bits select.
  public func translate(_ virtualAddress: UInt64) -> TranslationTrace {
    var trace = TranslationTrace(virtualAddress: virtualAddress, steps: [], outcome: .fault(""))
    let geometry = format.geometry
    guard geometry.windows.contains(where: { $0.contains(virtualAddress) }) else {
      trace.outcome = .fault(
        "translation fault: the address is outside the format's windows (not canonical, or above the input size)"
      )
      return trace
    }
    let offset = indexBits >= 64 ? virtualAddress : virtualAddress & ((1 << UInt64(indexBits)) - 1)
    let rootIndex =
      geometry.rootSelectBits == 0 ? 0 : Int(offset >> UInt64(geometry.rootCoverageBits))
    guard rootIndex < source.roots.count else {
      trace.outcome = .fault("no root table for root index \(rootIndex)")
      return trace
    }
    var table = source.roots[rootIndex]
    let memory = source.memory
    let decoder = format.format
    for level in 0..<geometry.levels.count {
      let levelGeometry = geometry.levels[level]
      let index = Int(
        (offset >> UInt64(levelGeometry.shift)) & UInt64(levelGeometry.entryCount - 1))
      let entryAddress = table &+ UInt64(index) * 8
      guard let entry = memory.word(at: entryAddress) else {
        trace.steps.append(
          TranslationTrace.Step(
            level: level, entryAddress: entryAddress, index: index, entry: nil,
            meaning: "the table at \(hex(table)) is outside the image"))
        trace.outcome = .fault(
          "the walk leaves the image at level \(level) (an external abort on real hardware)")
        return trace
      }
      var step = TranslationTrace.Step(
        level: level, entryAddress: entryAddress, index: index, entry: entry, meaning: "")
      if entry != 0, let reason = format.reservedEncoding(entry, level: level) {
        step.meaning = reason
        trace.steps.append(step)
        trace.outcome = .fault("\(reason) at level \(level)")
        return trace
      }
      switch decoder.kind(of: entry, level: level) {
      case .empty:
        step.meaning = "empty"
        trace.steps.append(step)
        trace.outcome = .fault("translation fault at level \(level): the entry is empty")
        return trace
      case .table:
        guard level + 1 < geometry.levels.count else {
          step.meaning = "a table pointer at the last level"
          trace.steps.append(step)
          trace.outcome = .fault(
            "translation fault at level \(level): a table pointer at the last level")
          return trace
        }
        table = decoder.tableAddress(of: entry, level: level)
        step.meaning = "table at \(hex(table))"
        trace.steps.append(step)
      case .leaf:
        let physical = decoder.outputAddress(of: entry, level: level, virtualAddress: offset)
        let protection = decoder.protection(of: entry, level: level)
        step.meaning = "\(ValueText.size(levelGeometry.leafSize)) leaf"
        trace.steps.append(step)
        trace.outcome = .mapped(
          physicalAddress: physical, pageSize: levelGeometry.leafSize, protection: protection,
          flags: format.flags(of: entry, level: level))
        return trace
      }
    }
    trace.outcome = .fault("the walk did not end in a leaf")
    return trace
  }
}
