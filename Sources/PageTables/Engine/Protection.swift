/// What a mapping allows, in format-neutral terms, and the attributes a leaf
/// carries besides its address.
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
/// // An OS bit the hardware ignores, MAIR attribute 3, access flag left clear:
/// let tracked = Protection(write: true, softwareBits: 0b1, attributeIndex: 3, accessed: false)
/// ```
///
/// Beyond the permissions, three attributes are for operating systems that need
/// the hardware's full entry:
/// - ``softwareBits``: bits the hardware ignores, for the OS's own bookkeeping
///   (ARM64 bits 55–58, x86-64 bits 9–11 and 52–58, RISC-V RSW bits 8–9).
/// - ``attributeIndex``: a memory-attribute index of the caller's choosing (ARM64
///   MAIR index or stage-2 MemAttr, x86-64 PAT index, RISC-V PBMT, UAT attribute
///   index) instead of the index the format uses for ``memoryType``.
/// - ``accessed``: whether the access flag is set when the leaf is written, or left
///   clear for the hardware (or a fault handler) to set on first access.
///
/// Each format's documentation says which of them it can express; a value it
/// cannot express is refused with ``PageTableError/unsupportedProtection(_:)``.
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
  /// The memory type the mapping is accessed with (ignored by the encoders when
  /// ``attributeIndex`` is set).
  public var memoryType: MemoryType
  /// Software-defined bits, which the hardware ignores, numbered from 0 across the
  /// format's software field(s) (for example bit 0 is ARM64 entry bit 55, x86-64
  /// entry bit 9, RISC-V entry bit 8). 0 leaves them clear.
  public var softwareBits: UInt16
  /// A memory-attribute index chosen by the caller (nil: the format's index for
  /// ``memoryType``). Decoding reports nil when the entry holds the index of a
  /// built-in ``MemoryType`` (and that type), and the index otherwise.
  public var attributeIndex: UInt8?
  /// Whether the access flag is set when the leaf is written (the default), or left
  /// clear so that the hardware sets it on first access (ARM64 with TCR.HA, x86-64,
  /// RISC-V with Svadu) or faults so that software can track access. Decoding
  /// reports the flag as the entry holds it now.
  public var accessed: Bool

  /// A protection from its parts; every parameter has the common default.
  public init(
    read: Bool = true, write: Bool = false, execute: Bool = false, user: Bool = false,
    global: Bool = false, memoryType: MemoryType = .normal, softwareBits: UInt16 = 0,
    attributeIndex: UInt8? = nil, accessed: Bool = true
  ) {
    self.read = read
    self.write = write
    self.execute = execute
    self.user = user
    self.global = global
    self.memoryType = memoryType
    self.softwareBits = softwareBits
    self.attributeIndex = attributeIndex
    self.accessed = accessed
  }

  /// Read-only, privileged, normal memory.
  public static var readOnly: Protection { Protection() }
  /// Read and write, privileged, normal memory.
  public static var readWrite: Protection { Protection(write: true) }
  /// Read and execute, privileged, normal memory.
  public static var readExecute: Protection { Protection(execute: true) }

  /// Whether only the permissions and the memory type are set (no software bits, no
  /// explicit attribute index, access flag set at map time): what every format
  /// can take as far as these attributes go.
  public var hasOnlyBasicAttributes: Bool {
    softwareBits == 0 && attributeIndex == nil && accessed
  }
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
