import PageTables

// Compiled into the guest program and, through a symbolic link, into the host's
// conformance harness (Sources/PageTablesTools/Conformance): one decoder for the
// plan's protection words on both sides.

extension Protection {
  /// A protection from a plan step's protection word: 1 read, 2 write, 4 execute,
  /// 8 user, 16 global; the memory type in bits 8–15 (0 normal, 1 uncached, 2
  /// device); the software bits in 16–31; bit 32 and an attribute index in 33–40;
  /// bit 41 for an access flag left clear.
  init(planBits bits: UInt64) {
    let memoryType: MemoryType
    switch bits >> 8 & 0xFF {
    case 1: memoryType = .uncached
    case 2: memoryType = .device
    default: memoryType = .normal
    }
    self.init(
      read: bits & 1 != 0, write: bits & 2 != 0, execute: bits & 4 != 0, user: bits & 8 != 0,
      global: bits & 16 != 0, memoryType: memoryType,
      softwareBits: UInt16(truncatingIfNeeded: bits >> 16),
      attributeIndex: bits & 1 << 32 != 0 ? UInt8(truncatingIfNeeded: bits >> 33) : nil,
      accessed: bits & 1 << 41 == 0)
  }
}
