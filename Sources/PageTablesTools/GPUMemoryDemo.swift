import GPUVirtualMemory
import PageTables
import PhysicalPageTables
import PhysicalPages

/// The GPU part of `pgtable demo`: buffer objects bound into an Apple UAT VM in a
/// context slot, partly unbound and rebound, each request shown as its plan, its
/// table work and its one TLB invalidation.
public enum GPUMemoryDemo {
  /// A TLB that keeps the commands it is given, for printing.
  final class ListingTLB: GPUTLB {
    var lines: [String] = []
    func invalidate(asid: Int, start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
      lines.append(
        "tlbi asid \(asid) \(Formatting.hex(start)) +\(Formatting.size(size))"
          + (leafOnly ? "" : ", walk caches too"))
    }
    func invalidateASID(_ asid: Int) { lines.append("tlbi asid \(asid) (the whole ASID)") }
  }

  /// Runs the demo, printing each line through `print`.
  public static func run(print: (String) -> Void) throws {
    let ram = try PhysicalMemory(configuration: .init(pageSize: 16384))
    let tlb = ListingTLB()
    let device = try GPUDevice(pageSource: PhysicalPageSource(ram), tlb: tlb)
    let vm = try GPUVM(
      device: device, format: AppleUATFormat(), tableMemory: PhysicalPageTableMemory(ram))
    print("GPU virtual memory: an Apple AGX VM (UAT tables, 16 KiB pages)")
    let slot = try vm.bindToContext()
    print(
      "  VM \(vm.id) in context slot \(slot), ASID \(vm.asid ?? 0): TTBAT[\(slot)] = "
        + "\(Formatting.hex(device.contexts.registers[slot])) (root | valid | ASID << 48); "
        + tlb.lines.joined(separator: "; "))
    tlb.lines = []
    let object = try device.makeObject(size: 0x10000)
    let scratch = try device.makeObject(size: 0x4000)
    print(
      "  objects: bo\(object.id.rawValue) 64 KiB, bo\(scratch.id.rawValue) 16 KiB (scratch); "
        + "no pages until first bound")

    func show(_ title: String, _ report: BindReport) {
      print("  \(title):")
      for step in report.steps { print("    step: \(step)") }
      var work = "    page table: \(Formatting.size(report.mappedBytes)) mapped"
      if report.unmappedBytes > 0 { work += ", \(Formatting.size(report.unmappedBytes)) unmapped" }
      if report.keptBytes > 0 { work += ", \(Formatting.size(report.keptBytes)) kept (keep)" }
      let reserved = report.reservedTablesPerLevel.reduce(0, +)
      work += "; prepare reserved \(reserved) table(s) (worst case), \(report.tablesFreed) freed"
      work += "; tables in use: \(vm.tableMemory.tablesInUse)"
      print(work)
      print(
        "    " + (tlb.lines.isEmpty ? "no invalidation needed" : tlb.lines.joined(separator: "; ")))
      tlb.lines = []
    }

    show("bind bo1 at 0x10_0000", try vm.bind(object, at: 0x10_0000, range: 0x10000))
    print("    bo1: \(object.residentChunkCount) pages allocated and pinned")
    show(
      "bind the scratch page 32 times over 0x20_0000 (one_page)",
      try vm.bindRepeated(scratch, window: 0x4000, at: 0x20_0000, range: 32 * 0x4000))
    show("unbind the middle 32 KiB of bo1", try vm.unbind(at: 0x10_4000, range: 0x8000))
    print("    mappings:")
    for line in Formatting.runs(vm.pageTable.dump()).prefix(3) { print("      " + line) }
    print("      … and 32 × the scratch page at 0x20_0000")
    show(
      "rebind the hole with the same pages of bo1",
      try vm.bind(object, offset: 0x4000, at: 0x10_4000, range: 0x8000))
    show(
      "bind bo1 over 0x10_0000 again, whole (the old pieces' entries stay)",
      try vm.bind(object, at: 0x10_0000, range: 0x10000))
    let report = vm.tearDown()
    print(
      "  tear down: \(report.vasRemoved) VAs removed, \(Formatting.size(report.unmappedBytes)) "
        + "unmapped and unpinned, \(report.tablesFreed) tables freed; "
        + (report.isClean ? "nothing leaked" : "LEAKED \(report)"))
    print("    " + tlb.lines.joined(separator: "; "))
  }
}
