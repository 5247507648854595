/// What a mapping allows, in format-neutral terms.
///
/// Each format encodes a `Protection` into its own permission bits when a range is
/// mapped, and decodes it back when a range is translated or walked. A format that
/// cannot express a combination (RISC-V's write without read, for example) refuses
/// it with ``PageTableError/unsupportedProtection(_:)`` rather than mapping something
/// more permissive.
///
/// ```swift
/// let data = Protection.readWrite                        // kernel data
/// let text = Protection(read: true, execute: true, user: true)  // user code
/// ```
public struct Protection: Hashable, Sendable {
  /// Loads are allowed.
  public var read: Bool
  /// Stores are allowed.
  public var write: Bool
  /// Instruction fetch is allowed (by the agent selected with ``user``).
  public var execute: Bool
  /// The less privileged agent may access the mapping: EL0 on ARM, U-mode on RISC-V,
  /// CPL 3 on x86-64, the GPU (rather than only its firmware) on Apple UAT.
  public var user: Bool
  /// The translation is shared by every address space (not tagged with an ASID).
  public var global: Bool
  /// The memory type the mapping is accessed with.
  public var memoryType: MemoryType

  public init(
    read: Bool = true, write: Bool = false, execute: Bool = false, user: Bool = false,
    global: Bool = false, memoryType: MemoryType = .normal
  ) {
    self.read = read
    self.write = write
    self.execute = execute
    self.user = user
    self.global = global
    self.memoryType = memoryType
  }

  /// Read-only, privileged, normal memory.
  public static var readOnly: Protection { Protection() }
  /// Read and write, privileged, normal memory.
  public static var readWrite: Protection { Protection(write: true) }
  /// Read and execute, privileged, normal memory.
  public static var readExecute: Protection { Protection(execute: true) }
}

/// How memory behind a mapping is accessed.
public enum MemoryType: UInt8, Hashable, Sendable, CaseIterable {
  /// Normal, write-back cacheable memory.
  case normal
  /// Normal memory that is not cached (write-combining where the format has it).
  case uncached
  /// Device memory: uncached, no speculation, no merging.
  case device
}
