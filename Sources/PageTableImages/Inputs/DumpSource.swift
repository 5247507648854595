import Foundation

/// An input to walk: its physical memory, the format its tables are in and the
/// root(s) to start from — read from a table image's header, an ELF core's notes,
/// or the command line.
///
/// ```swift
/// let source = try DumpSource.open(path: "guest.core")   // CR3 from QEMU's notes
/// let result = try TableWalker(source).walk()
/// ```
public struct DumpSource: Sendable {
  /// What kind of file the input is.
  public enum Kind: String, Sendable {
    /// A table image written by `pgtable build` (``TableImage``).
    case tableImage = "table image"
    /// An ELF core file (QEMU `dump-guest-memory`, kdump vmcore).
    case elfCore = "ELF core"
    /// Raw RAM from a base address.
    case raw = "raw memory"
  }

  /// The kind of file.
  public var kind: Kind
  /// The physical memory in it.
  public var memory: PhysicalImage
  /// The format to walk with.
  public var format: FormatDescriptor
  /// The roots to walk from.
  public var roots: [UInt64]
  /// Where the format and root came from, for the report.
  public var origin: String
  /// What was wrong with the file but could be read around (truncation, …).
  public var problems: [String]

  /// Makes one from its parts.
  public init(
    kind: Kind, memory: PhysicalImage, format: FormatDescriptor, roots: [UInt64], origin: String,
    problems: [String] = []
  ) {
    self.kind = kind
    self.memory = memory
    self.format = format
    self.roots = roots
    self.origin = origin
    self.problems = problems
  }

  /// Opens `path` and decides what it is by its first bytes: a table image, an
  /// ELF core, or (anything else) raw RAM at `base`.
  ///
  /// - Parameters:
  ///   - path: the file.
  ///   - format: the format; overrides an image header's or a core's.
  ///   - root: the root table; overrides an image header's or a core's.
  ///   - base: the physical address of a raw file's first byte (default 0).
  /// - Throws: ``ImageError/input(_:)`` for an unreadable or malformed file, or
  ///   when the format or root is neither given nor found in the file.
  public static func open(
    path: String, format: FormatDescriptor? = nil, root: UInt64? = nil, base: UInt64? = nil
  ) throws(ImageError) -> DumpSource {
    let url = URL(fileURLWithPath: path)
    let data = try PhysicalImage.map(url)
    if TableImage.isImage(data.prefix(8)) {
      let header = try ImageHeader(data)
      let end = UInt64(TableImage.headerBytes) + header.byteCount
      var problems: [String] = []
      if UInt64(data.count) < end {
        problems.append(
          "the image is truncated: its header promises \(header.byteCount) bytes of tables, the file holds \(max(0, data.count - TableImage.headerBytes))"
        )
      }
      let memory = PhysicalImage(
        data: data,
        segments: [
          PhysicalImage.Segment(
            physicalAddress: header.base, byteCount: header.byteCount,
            fileOffset: UInt64(TableImage.headerBytes), fileByteCount: header.byteCount)
        ])
      return DumpSource(
        kind: .tableImage, memory: memory, format: format ?? header.format,
        roots: root.map { [$0] } ?? header.roots,
        origin: root == nil ? "root from the image header" : "root from --root",
        problems: problems + memory.truncationProblems)
    }
    if ELFCore.isELF(data.prefix(4)) {
      let core = try ELFCore(data: data)
      return try fromCore(core, format: format, root: root)
    }
    let memory = PhysicalImage(
      data: data,
      segments: [
        PhysicalImage.Segment(
          physicalAddress: base ?? 0, byteCount: min(UInt64(data.count), UInt64.max - (base ?? 0)),
          fileOffset: 0, fileByteCount: UInt64(data.count))
      ])
    guard let format else { throw .input("\(path) is raw memory: give --format") }
    guard let root else { throw .input("\(path) is raw memory: give --root") }
    return DumpSource(kind: .raw, memory: memory, format: format, roots: [root], origin: "--root")
  }

  static func fromCore(_ core: ELFCore, format: FormatDescriptor?, root: UInt64?) throws(ImageError)
    -> DumpSource
  {
    var found: (FormatDescriptor, UInt64, String)?
    if let cpu = core.qemuCPUStates.first, cpu.pagingEnabled {
      found = (
        try FormatDescriptor(family: "x86-64", options: ["levels": "\(cpu.levels)"]),
        cpu.rootAddress,
        "CR3 \(hex(cpu.cr3)) and CR4 \(hex(cpu.cr4)) from the core's QEMU CPU note"
      )
    } else if let info = VMCoreInfo(core.vmcoreInfo, machine: core.machine) {
      found = (info.format, info.root, info.origin)
    }
    guard let chosenFormat = format ?? found?.0 else {
      throw .input("the core's notes carry no translation registers: give --format and --root")
    }
    guard let chosenRoot = root ?? found?.1 else {
      throw .input("the core's notes carry no translation registers: give --root")
    }
    let origin =
      root != nil ? "root from --root" : found?.2 ?? "root from the core's notes"
    return DumpSource(
      kind: .elfCore, memory: core.memory, format: chosenFormat, roots: [chosenRoot],
      origin: origin, problems: core.problems)
  }
}

extension PhysicalImage {
  /// One line per segment the file was cut short in.
  var truncationProblems: [String] {
    segments.filter(\.truncated).map {
      "memory at \(hex($0.physicalAddress)) is cut short by the end of the file after \(hex($0.fileByteCount)) bytes"
    }
  }
}

/// The kernel's page-table root and format from a `VMCOREINFO` note: Linux
/// x86-64 (`SYMBOL(init_top_pgt)`, `NUMBER(phys_base)`) and arm64
/// (`SYMBOL(swapper_pg_dir)`, `NUMBER(kimage_voffset)`, `NUMBER(VA_BITS)`).
struct VMCoreInfo {
  var format: FormatDescriptor
  var root: UInt64
  var origin: String

  init?(_ info: [String: String], machine: UInt16) {
    func number(_ key: String, radix: Int = 16) -> UInt64? {
      info[key].flatMap { UInt64($0.hasPrefix("0x") ? String($0.dropFirst(2)) : $0, radix: radix) }
    }
    switch machine {
    case 62:
      guard let symbol = number("SYMBOL(init_top_pgt)"), symbol >= 0xFFFF_FFFF_8000_0000 else {
        return nil
      }
      let physicalBase = number("NUMBER(phys_base)", radix: 10) ?? 0
      let levels = number("NUMBER(pgtable_l5_enabled)", radix: 10) == 1 ? "5" : "4"
      guard let format = try? FormatDescriptor(family: "x86-64", options: ["levels": levels]) else {
        return nil
      }
      self.format = format
      root = symbol - 0xFFFF_FFFF_8000_0000 &+ physicalBase
      origin = "init_top_pgt and phys_base from the core's VMCOREINFO"
    case 183:
      guard let symbol = number("SYMBOL(swapper_pg_dir)"),
        let offset = number("NUMBER(kimage_voffset)")
      else { return nil }
      let bits = number("NUMBER(VA_BITS)", radix: 10) ?? 48
      let page = number("PAGESIZE", radix: 10) ?? 4096
      let granule = page == 65536 ? "64k" : page == 16384 ? "16k" : "4k"
      guard
        let format = try? FormatDescriptor(
          family: "arm64", options: ["base": "ttbr1", "inputBits": "\(bits)", "granule": granule])
      else { return nil }
      self.format = format
      root = symbol &- offset
      origin = "swapper_pg_dir and kimage_voffset from the core's VMCOREINFO"
    default:
      return nil
    }
  }
}
