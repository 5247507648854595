import Foundation

/// An ELF core file of a whole machine — QEMU's `dump-guest-memory` output or a
/// kdump-style vmcore: its `PT_LOAD` segments give the physical memory layout
/// (by `p_paddr`) and its notes may carry the CPU's translation registers.
///
/// ```swift
/// let core = try ELFCore(url: URL(fileURLWithPath: "guest.core"))
/// core.memory.segments.count          // one per RAM range
/// core.qemuCPUStates.first?.cr3       // x86-64 guests: where the walk starts
/// ```
///
/// Every field is checked against the file: header tables that pass the end of
/// the file, segments cut short, notes whose sizes overflow and counts that
/// claim more than the file holds become ``problems`` (or an error when nothing
/// usable is left), never a crash or an allocation of the claimed size.
public struct ELFCore: Sendable {
  /// The machine's physical memory.
  public var memory: PhysicalImage
  /// The `e_machine` field (62 x86-64, 183 AArch64, 243 RISC-V).
  public var machine: UInt16
  /// The CPU states in QEMU's `QEMU` notes (x86-64 guests), one per CPU.
  public var qemuCPUStates: [QEMUCPUState]
  /// The `VMCOREINFO` note's lines, key to value (kdump and QEMU with a
  /// vmcoreinfo device).
  public var vmcoreInfo: [String: String]
  /// What was wrong with the file but could be read around.
  public var problems: [String]

  /// `PT_LOAD`.
  static var loadSegment: UInt32 { 1 }
  /// `PT_NOTE`.
  static var noteSegment: UInt32 { 4 }

  /// Whether `prefix` starts like an ELF file.
  public static func isELF(_ prefix: some Collection<UInt8>) -> Bool {
    prefix.starts(with: [0x7F, 0x45, 0x4C, 0x46])
  }

  /// Reads the core file at `url`.
  ///
  /// - Throws: ``ImageError/input(_:)`` for a file that is not a 64-bit
  ///   little-endian ELF core or has no memory segments.
  public init(url: URL) throws(ImageError) {
    try self.init(data: PhysicalImage.map(url))
  }

  /// Reads a core file's bytes.
  public init(data: Data) throws(ImageError) {
    let file = ByteReader(data)
    guard Self.isELF(data) else { throw .input("not an ELF file") }
    guard file.count >= 64 else { throw .input("the ELF header is truncated") }
    guard file.bytes(4, 1) == [2], file.bytes(5, 1) == [1] else {
      throw .input("only 64-bit little-endian ELF cores are read")
    }
    guard file.u16(16) == 4 else {
      throw .input("not a core file (ELF type \(file.u16(16) ?? 0), a core is 4)")
    }
    machine = file.u16(18) ?? 0
    problems = []
    let headerOffset = file.u64(32) ?? 0
    let entrySize = Int(file.u16(54) ?? 0)
    var count = Int(file.u16(56) ?? 0)
    if count == 0xFFFF {
      // PN_XNUM: the real count is section header 0's sh_info.
      let sectionOffset = file.u64(40) ?? 0
      count =
        sectionOffset < UInt64(file.count) ? Int(file.u32(Int(sectionOffset) + 44) ?? 0) : 0
    }
    guard entrySize >= 56 else { throw .input("ELF program headers of \(entrySize) bytes") }
    let fit = headerOffset < UInt64(file.count) ? (file.count - Int(headerOffset)) / entrySize : 0
    if count > fit {
      problems.append(
        "the ELF header claims \(count) program headers, the file holds \(fit): the file is truncated"
      )
      count = fit
    }
    var segments: [PhysicalImage.Segment] = []
    var notes: [(offset: Int, size: Int)] = []
    for index in 0..<count {
      let at = Int(headerOffset) + index * entrySize
      let type = file.u32(at) ?? 0
      let offset = file.u64(at + 8) ?? 0
      let physical = file.u64(at + 24) ?? 0
      let fileSize = file.u64(at + 32) ?? 0
      let memorySize = file.u64(at + 40) ?? 0
      if type == Self.loadSegment {
        if offset > UInt64(file.count)
          || fileSize > UInt64(file.count) - min(offset, UInt64(file.count))
        {
          problems.append(
            "PT_LOAD at physical \(hex(physical)) claims \(hex(fileSize)) bytes at file offset \(hex(offset)): the file ends first (truncated)"
          )
        }
        if memorySize < fileSize {
          problems.append("PT_LOAD at physical \(hex(physical)): memory size below file size")
        }
        segments.append(
          PhysicalImage.Segment(
            physicalAddress: physical, byteCount: max(memorySize, fileSize), fileOffset: offset,
            fileByteCount: fileSize))
      } else if type == Self.noteSegment {
        guard offset < UInt64(file.count) else {
          problems.append("PT_NOTE past the end of the file")
          continue
        }
        notes.append((Int(offset), Int(min(fileSize, UInt64(file.count) - offset))))
      }
    }
    guard !segments.isEmpty else { throw .input("the ELF core has no PT_LOAD segments") }
    memory = PhysicalImage(data: data, segments: segments)
    qemuCPUStates = []
    vmcoreInfo = [:]
    for note in notes { readNotes(file, note.offset, note.size) }
  }

  /// Reads the notes in `[offset, offset + size)`.
  mutating func readNotes(_ file: ByteReader<Data>, _ offset: Int, _ size: Int) {
    var at = offset
    let end = offset + size
    while at + 12 <= end {
      guard let nameSize = file.u32(at), let descriptionSize = file.u32(at + 4),
        let type = file.u32(at + 8)
      else { return }
      let nameStart = at + 12
      let descriptionStart = nameStart + Self.padded(Int(nameSize))
      let next = descriptionStart + Self.padded(Int(descriptionSize))
      guard nameSize < 4096, descriptionSize < 1 << 24, next <= end else {
        problems.append("a note at file offset \(hex(UInt64(at))) passes the end of its segment")
        return
      }
      let name = String(
        decoding: file.bytes(nameStart, Int(nameSize)).prefix { $0 != 0 }, as: UTF8.self)
      let description = file.bytes(descriptionStart, Int(descriptionSize))
      if name == "QEMU" && type == 0 && machine == 62, let state = QEMUCPUState(description) {
        qemuCPUStates.append(state)
      } else if name == "VMCOREINFO" {
        for line in String(decoding: description, as: UTF8.self).split(separator: "\n") {
          let parts = line.split(separator: "=", maxSplits: 1)
          if parts.count == 2 { vmcoreInfo[String(parts[0])] = String(parts[1]) }
        }
      }
      at = next
    }
  }

  static func padded(_ size: Int) -> Int { (size + 3) & ~3 }
}

/// The x86-64 CPU state QEMU writes in a `QEMU` note of a `dump-guest-memory`
/// core (QEMU's `QEMUCPUState`: version, size, 18 general registers, 10
/// segments, CR0–CR4, KERNEL_GS_BASE).
public struct QEMUCPUState: Hashable, Sendable {
  /// CR0 (bit 31: paging enabled).
  public var cr0: UInt64
  /// CR3: the root of the page tables (bits 51:12), with PCID or PWT/PCD below.
  public var cr3: UInt64
  /// CR4 (bit 12: LA57, five-level paging).
  public var cr4: UInt64
  /// RIP when the dump was taken.
  public var rip: UInt64

  /// Offset of `cr[0]` in the note: 8 bytes of version and size, 18 registers,
  /// 10 segments of 24 bytes.
  static var controlRegisterOffset: Int { 8 + 18 * 8 + 10 * 24 }

  init?(_ bytes: [UInt8]) {
    let reader = ByteReader(bytes)
    let base = Self.controlRegisterOffset
    guard let cr0 = reader.u64(base), let cr3 = reader.u64(base + 24),
      let cr4 = reader.u64(base + 32), let rip = reader.u64(8 + 16 * 8)
    else { return nil }
    self.cr0 = cr0
    self.cr3 = cr3
    self.cr4 = cr4
    self.rip = rip
  }

  /// Whether paging was on.
  public var pagingEnabled: Bool { cr0 & (1 << 31) != 0 }
  /// The root table's physical address.
  public var rootAddress: UInt64 { cr3 & 0x000F_FFFF_FFFF_F000 }
  /// Four or five paging levels (CR4.LA57).
  public var levels: Int { cr4 & (1 << 12) != 0 ? 5 : 4 }
}
