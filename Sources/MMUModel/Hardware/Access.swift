import PageTables

/// What an access does: load, store or instruction fetch.
public enum AccessKind: String, Hashable, Sendable, CaseIterable {
  /// A load.
  case read
  /// A store.
  case write
  /// An instruction fetch.
  case execute
}

/// Who makes an access: the privileged agent (EL1, S-mode, CPL 0, the GPU's
/// firmware) or the less privileged one (EL0, U-mode, CPL 3, the GPU itself), as
/// `Protection.user` selects.
public enum Privilege: String, Hashable, Sendable {
  /// The privileged agent.
  case privileged
  /// The less privileged agent.
  case user
}

/// What an access translated to.
///
/// ```swift
/// let t = try mmu.access(0x20_1234, .read, in: space)
/// t.physicalAddress          // 0x8020_1234
/// t.servedByTLB              // true on the second access
/// ```
public struct MMUTranslation: Hashable, Sendable {
  /// The physical address of the accessed byte.
  public var physicalAddress: UInt64
  /// Bytes the translation covers (a page, a block, or a whole contiguous run).
  public var size: UInt64
  /// The level of the leaf that produced it.
  public var level: Int
  /// What the leaf allows.
  public var protection: Protection
  /// Whether the TLB served it (no walk).
  public var servedByTLB: Bool

  @usableFromInline
  init(
    physicalAddress: UInt64, size: UInt64, level: Int, protection: Protection, servedByTLB: Bool
  ) {
    self.physicalAddress = physicalAddress
    self.size = size
    self.level = level
    self.protection = protection
    self.servedByTLB = servedByTLB
  }
}

/// A fault, as the hardware reports it: the kind and the level of the walk that
/// found it.
///
/// ```swift
/// do { _ = try mmu.access(0xdead_0000, .write, in: space) }
/// catch { print(error.kind, error.level) }   // translation 1
/// ```
public struct MMUFault: Error, Hashable, Sendable, CustomStringConvertible {
  /// The fault classes the model reports (Arm's fault status codes, in spirit).
  public enum Kind: String, Hashable, Sendable {
    /// No valid entry translates the address (or it lies outside every window).
    case translation
    /// A valid leaf does not allow the access.
    case permission
    /// An entry holds a table or output address wider than the output size.
    case addressSize
  }
  /// The fault class.
  public var kind: Kind
  /// The level of the walk that faulted (0 is the root).
  public var level: Int
  /// The faulting virtual address.
  public var virtualAddress: UInt64
  /// The access that faulted.
  public var access: AccessKind

  public var description: String {
    "\(kind) fault at level \(level) on \(access) of 0x\(String(virtualAddress, radix: 16))"
  }
}
