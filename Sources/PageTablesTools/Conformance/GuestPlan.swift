import PageTables

/// The work one guest run does, in the binary form the guest program reads
/// (`Examples/BareMetal/Program/Plan.swift`): a header and five-word steps.
public struct GuestPlan: Sendable {
  /// Whose tables the guest uses.
  public enum Mode: UInt64, Sendable {
    /// The host built the tables; the guest activates and probes.
    case prebuilt = 1
    /// The guest builds the tables with the engine.
    case engine = 2
  }

  /// The guest's step operations.
  public enum Operation: UInt64, Sendable {
    /// Map a range with the guest's engine: virtual address, physical address, size, protection.
    case map = 1
    /// Unmap a range with the guest's engine and invalidate the TLB for it.
    case unmap = 2
    /// Unmap a range without TLB invalidation (a control: stale entries may remain).
    case unmapWithoutInvalidation = 3
    /// Invalidate the whole TLB.
    case invalidateAll = 4
    /// Write a tag into a physical page, for loads to read back.
    case tag = 5
    /// Point the MMU at the tables and turn it on.
    case activate = 6
    /// Access an address with a mask of probe kinds and print the outcomes.
    case probe = 7
    /// Map a region the guest runs from with the engine's identity-map scheme
    /// (operands as for `map`, with the virtual address equal to the physical one).
    case identityMap = 8
    /// Print `PTHALT <root>` and wait, tables in place and translation on, for the
    /// host to dump the machine's memory (``GuestMemoryDump``).
    case haltForDump = 9
  }

  /// One step: an operation and its four operand words.
  public struct Step: Sendable {
    /// What the guest does.
    public var operation: Operation
    /// The operation's operands (unused ones are zero).
    public var operands: (UInt64, UInt64, UInt64, UInt64)
  }

  /// Whose tables the guest uses.
  public var mode: Mode
  /// Machine-specific: the format for engine mode, the regime for prebuilt tables.
  public var configuration: UInt64 = 0
  /// The prebuilt table's root.
  public var root: UInt64 = 0
  /// The activation values the guest loads, from the formats' activation API
  /// (ARM64 TCR, MAIR, TTBR0, TTBR1 or VTCR, -, VTTBR; x86-64 CR3, CR4, EFER, CR0,
  /// IA32_PAT; RISC-V satp, menvcfg). Seven slots: header words 4–7 and 13–15.
  public var registers: [UInt64] = [0, 0, 0, 0, 0, 0, 0]
  /// The physical base of the prebuilt tables' image.
  public var tableBase: UInt64 = 0
  /// The size in bytes of the prebuilt tables' image.
  public var tableBytes: UInt64 = 0
  /// x86: bit 0 asks the start stub for 5-level paging (LA57).
  public var bootFlags: UInt64 = 0
  /// The steps, in the order the guest runs them.
  public var steps: [Step] = []

  /// An empty plan for `mode`.
  public init(mode: Mode) { self.mode = mode }

  /// Appends a step: `operation` with up to four operand words.
  public mutating func add(
    _ operation: Operation, _ a: UInt64 = 0, _ b: UInt64 = 0, _ c: UInt64 = 0,
    _ d: UInt64 = 0
  ) {
    steps.append(Step(operation: operation, operands: (a, b, c, d)))
  }

  /// The little-endian bytes QEMU loads at the machine's plan address.
  public func encoded() -> [UInt8] {
    let headerWords = 16
    var words: [UInt64] = [
      0x3130_4E41_4C50_5450, mode.rawValue, configuration, root,
      registers[0], registers[1], registers[2], registers[3], tableBase, tableBytes,
      UInt64(steps.count), UInt64(headerWords * 8), bootFlags, registers[4], registers[5],
      registers[6],
    ]
    for step in steps {
      words += [
        step.operation.rawValue, step.operands.0, step.operands.1, step.operands.2,
        step.operands.3,
      ]
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(words.count * 8)
    for word in words {
      for shift in stride(from: 0, to: 64, by: 8) {
        bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
      }
    }
    return bytes
  }

  /// A protection as the plan encodes it: 1 read, 2 write, 4 execute, 8 user,
  /// 16 global; the memory type in bits 8–15 (0 normal, 1 uncached, 2 device); the
  /// software bits in bits 16–31; bit 32 set when an attribute index is given, the
  /// index in bits 33–40; bit 41 set when the access flag is left clear.
  public static func bits(_ protection: Protection) -> UInt64 {
    var bits: UInt64 = 0
    if protection.read { bits |= 1 }
    if protection.write { bits |= 2 }
    if protection.execute { bits |= 4 }
    if protection.user { bits |= 8 }
    if protection.global { bits |= 16 }
    switch protection.memoryType {
    case .normal: break
    case .uncached: bits |= 1 << 8
    case .device: bits |= 2 << 8
    }
    bits |= UInt64(protection.softwareBits) << 16
    if let index = protection.attributeIndex { bits |= 1 << 32 | UInt64(index) << 33 }
    if !protection.accessed { bits |= 1 << 41 }
    return bits
  }
}
