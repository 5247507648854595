/// What the host asks the guest to do: a header and a list of steps, loaded by
/// QEMU next to the program (at `Machine.planAddress`), all little-endian 64-bit
/// words. `PageTablesTools/Conformance` writes it; this file only reads it.
///
/// Header words: 0 magic `PTPLAN01`, 1 mode, 2 configuration, 3 root (prebuilt
/// tables), 4–7 activation registers 0–3 (the host's values from the formats'
/// activation API), 8 table memory base and 9 its size (engine mode), 10 step
/// count, 11 byte offset of the steps, 12 boot flags, 13–15 activation registers 4–6.
/// Each step is five words: operation, then its operands.
@safe
struct Plan {
  /// Whose tables the guest uses.
  enum Mode: UInt64 {
    /// The host built the tables and loaded them; the guest only activates and probes.
    case prebuilt = 1
    /// The guest builds the tables itself with the engine.
    case engine = 2
  }

  /// One thing to do.
  enum Operation: UInt64 {
    /// Map `[a, a + c)` to `b` with protection bits `d` (engine mode).
    case map = 1
    /// Unmap `[a, a + b)` and invalidate the TLB with the machine's instructions.
    case unmap = 2
    /// Unmap `[a, a + b)` without any TLB invalidation (the control experiment).
    case unmapWithoutInvalidation = 3
    /// Invalidate every translation.
    case invalidateAll = 4
    /// Store `b` at physical address `a` (a tag a probe will read back).
    case tag = 5
    /// Turn translation on with the tables.
    case activate = 6
    /// Probe address `a` with the access kinds in bit mask `b`; stores write `c`.
    case probe = 7
    /// Map `[a, a + c)` to itself with protection bits `d`, through the engine's
    /// `IdentityMap` scheme (engine mode).
    case identityMap = 8
    /// Print `PTHALT <root>` (the root table's physical address) and wait, with the
    /// tables in place and translation on, for the host to dump the machine's
    /// memory through QEMU's monitor; the host then ends QEMU.
    case haltForDump = 9
  }

  struct Step {
    var operation: Operation?
    var a: UInt64
    var b: UInt64
    var c: UInt64
    var d: UInt64
  }

  static var magic: UInt64 { 0x3130_4E41_4C50_5450 }  // "PTPLAN01"

  let words: UnsafePointer<UInt64>

  /// The plan at `address`, or nil if no plan was loaded there.
  init?(at address: UInt64) {
    guard let words = unsafe UnsafePointer<UInt64>(bitPattern: UInt(address)) else { return nil }
    guard unsafe words[0] == Self.magic else { return nil }
    unsafe self.words = words
  }

  func word(_ index: Int) -> UInt64 { unsafe words[index] }

  var mode: Mode? { Mode(rawValue: word(1)) }
  var configuration: UInt64 { word(2) }
  var root: UInt64 { word(3) }
  /// Activation register `index` (0...6).
  func register(_ index: Int) -> UInt64 { word(index < 4 ? 4 + index : 9 + index) }
  var tableBase: UInt64 { word(8) }
  var tableBytes: UInt64 { word(9) }
  var stepCount: Int { Int(word(10)) }
  var bootFlags: UInt64 { word(12) }

  func step(_ index: Int) -> Step {
    let first = Int(word(11) / 8) + index * 5
    return Step(
      operation: Operation(rawValue: word(first)), a: word(first + 1), b: word(first + 2),
      c: word(first + 3), d: word(first + 4))
  }
}
