import PageTables
import PhysicalPageTables
import PhysicalPages

/// The page-table half of `pgtable demo`: tables built on a machine's pages, for
/// an ARM64 CPU, an x86-64 CPU, a RISC-V CPU and an Apple GPU.
public enum PageTableDemo {
  /// A TLB that prints what the engine asks it to invalidate.
  struct PrintingTLB: TLBInvalidator {
    var lines: [String] = []
    mutating func invalidateAll() { lines.append("TLB: invalidate all") }
    mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
      lines.append(
        "TLB: invalidate \(Formatting.hex(start)) +\(Formatting.size(size)), stride "
          + Formatting.size(granule) + (leafOnly ? "" : ", walk caches too"))
    }
  }

  /// Runs the demo, printing each line through `print`.
  public static func run(print: (String) -> Void) throws {
    let ram = try PhysicalMemory()
    let baseline = ram.statistics().allocatedPages
    print("Page tables on the machine's own pages")
    print("  ARM64, 4 KiB granule, 48-bit stage 1:")
    do {
      let table = try PageTable(
        format: ARM64Format(granule: .k4, inputBits: 48), physicalMemory: ram)
      try table.map(
        virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 2 << 20,
        protection: .readWrite)
      try table.map(
        virtualAddress: 0x40_0000, physicalAddress: 0x8040_0000, size: 64 << 10,
        protection: Protection(execute: true, user: true))
      try table.map(
        virtualAddress: 0xffff_0000, physicalAddress: 0x0900_0000, size: 4 << 10,
        protection: Protection(write: true, memoryType: .device))
      print("    mapped a 2 MiB block, a 64 KiB contiguous run of user code, one device page")
      for line in Formatting.runs(table.dump()) { print("      " + line) }
      let probe: UInt64 = 0x20_1234
      if let t = table.translate(probe) {
        print(
          "    translate(\(Formatting.hex(probe))) = \(Formatting.hex(t.physicalAddress)) "
            + "in a \(Formatting.size(t.pageSize)) leaf at level \(t.level)")
      }
      let contiguous = table.translate(0x40_0000).map { $0.entry & (1 << 52) != 0 } ?? false
      print("    the 64 KiB run carries the contiguous hint: \(contiguous)")
      print("    table pages in use: \(ram.statistics().allocatedPages - baseline)")
      do {
        let _ = try table.map(
          virtualAddress: 0x20_0000, physicalAddress: 0, size: 4096, protection: .readOnly)
      } catch {
        print("    mapping over the block is refused: \(error)")
      }

      var gather = TLBGather(invalidator: PrintingTLB())
      let bytes = try table.unmap(virtualAddress: 0x30_0000, size: 4096, gather: &gather)
      print(
        "    unmap one 4 KiB page in the middle of the block: \(Formatting.size(bytes)) unmapped")
      table.flush(&gather)
      for line in gather.invalidator.lines { print("      " + line) }
      print("    the block was split; the rest still translates:")
      for line in Formatting.runs(table.dump()) { print("      " + line) }
      var all = TLBGather(invalidator: PrintingTLB())
      try table.unmap(virtualAddress: 0, size: 1 << 32, gather: &all)
      table.flush(&all)
      print(
        "    unmapped everything; table pages in use: \(ram.statistics().allocatedPages - baseline)"
      )
    }
    print("    the table was dropped; pages in use: \(ram.statistics().allocatedPages - baseline)")

    print("  The same 1 GiB + 2 MiB + 64 KiB on other formats:")
    try sameMapping("x86-64 4-level", X86_64Format(levels: 4), ram)
    try sameMapping("x86-64 5-level", X86_64Format(levels: 5), ram)
    try sameMapping("RISC-V Sv39", RISCVFormat(.sv39), ram)
    try sameMapping("RISC-V Sv48", RISCVFormat(.sv48), ram)
    try sameMapping("ARM64 16K", ARM64Format(granule: .k16, inputBits: 48), ram)
    try sameMapping("ARM64 64K", ARM64Format(granule: .k64, inputBits: 48), ram)
    try sameMapping("Apple UAT (GPU)", AppleUATFormat(), ram)
    print(
      "  pages in use after every table was dropped: \(ram.statistics().allocatedPages - baseline)")
  }

  /// Maps 1 GiB + 2 MiB + 64 KiB (aligned) and says which leaves the format chose.
  static func sameMapping<Format: PageTableFormat>(
    _ name: String, _ format: Format, _ ram: PhysicalMemory
  ) throws {
    let table = try PageTable(format: format, physicalMemory: ram)
    let before = ram.statistics().allocatedPages
    let start: UInt64 = 1 << 30
    let size: UInt64 = (1 << 30) + (2 << 20) + (64 << 10)
    try table.map(
      virtualAddress: start, physicalAddress: 1 << 30, size: size, protection: .readWrite)
    var counter = LeafSizeCounter()
    table.walkAll(visitor: &counter)
    let leaves = counter.leaves
    let described = leaves.keys.sorted(by: >).map { "\(leaves[$0]!) × \(Formatting.size($0))" }
    print(
      "    \(name): " + described.joined(separator: " + ")
        + ", \(ram.statistics().allocatedPages - before + 1) table page(s)")
    var gather = TLBGather(invalidator: PrintingTLB())
    try table.unmap(virtualAddress: start, size: size, gather: &gather)
    table.flush(&gather)
  }
}

/// Counts leaves by size during a walk.
public struct LeafSizeCounter: PageTableVisitor {
  /// Leaves seen, by size in bytes.
  public private(set) var leaves: [UInt64: Int] = [:]

  /// A counter that has seen no leaf.
  public init() {}

  public mutating func visitLeaf(
    virtualAddress: UInt64, physicalAddress: UInt64, size: UInt64, level: Int,
    protection: Protection, entry: UInt64
  ) { leaves[size, default: 0] += 1 }
}
