import PageTables

/// Replays parsed records on one format (the generic half of ``TraceReplay``).
struct Replayer: FormatVisitor {
  let header: TraceRecord
  let headerLine: Int
  let records: [(Int, TraceRecord)]
  let output: (String) -> Void

  func visit<Format: PageTableFormat>(_ format: Format) throws -> TraceReplay.Summary {
    let base = header.tableBase?.value ?? 0x4000_0000
    let bytes = header.tableBytes?.value ?? 64 << 20
    guard bytes > 0, bytes % 4096 == 0, bytes <= 1 << 34 else {
      throw TraceError.badField(
        line: headerLine, field: "tableBytes", reason: "whole 4 KiB pages, at most 16 GiB")
    }
    guard base % 65536 == 0 else {
      throw TraceError.badField(line: headerLine, field: "tableBase", reason: "64 KiB aligned")
    }
    let asid = header.asid?.value ?? 0
    guard asid <= UInt64(UInt16.max) else {
      throw TraceError.badField(line: headerLine, field: "asid", reason: "at most 65535")
    }
    let image: ImageTableMemory
    do {
      image = try ImageTableMemory(base: base, byteCount: Int(bytes))
    } catch {
      throw TraceError.badField(line: headerLine, field: "tableBase", reason: "\(error)")
    }
    let mmu = try MMU(format: format, memory: image)
    let table: PageTable<Format, ObservedTableMemory<ImageTableMemory>>
    do {
      table = try PageTable(format: format, memory: mmu.observing(image))
    } catch {
      throw TraceError.refused(line: headerLine, error: error)
    }
    let space = mmu.attach(table, asid: UInt16(asid))
    defer { mmu.detach(space) }
    var summary = TraceReplay.Summary(operations: 0, faults: 0, reports: [])
    var step = TraceStep(mmu: mmu, table: table, space: space, output: output)
    for (line, record) in records {
      try step.perform(record, line: line, summary: &summary)
      for report in mmu.takeReports() {
        output("line \(line): \(report)")
        summary.reports.append(report)
      }
      summary.operations += 1
    }
    output(
      "\(summary.operations) operations, \(summary.faults) faults, \(summary.reports.count) reports"
    )
    return summary
  }
}
