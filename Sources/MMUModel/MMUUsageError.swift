/// A call the model cannot carry out because an argument is wrong.
///
/// ```swift
/// do { try mmu.entryWritten(table: leafTable, index: 512) }   // a 512-entry table
/// catch { print(error) }   // entry 512 of table 0x40003000 does not exist (512 entries)
/// ```
public enum MMUUsageError: Error, Hashable, Sendable, CustomStringConvertible {
  /// ``MMU/entryWritten(table:index:)`` named an entry past the end of a table the
  /// model knows (or a negative index).
  case entryIndexOutOfRange(table: UInt64, index: Int, entries: Int)
  /// ``MMU/attach(roots:asid:vmid:)`` was given `given` root tables where the
  /// format has `expected` (DART has several TTBRs, the other formats one).
  case wrongRootCount(given: Int, expected: Int)

  public var description: String {
    switch self {
    case .entryIndexOutOfRange(let table, let index, let entries):
      "entry \(index) of table \(hex(table)) does not exist (\(entries) entries)"
    case .wrongRootCount(let given, let expected):
      "\(given) root table(s) given, but the format has \(expected)"
    }
  }
}
