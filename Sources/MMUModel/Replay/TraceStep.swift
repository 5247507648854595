import PageTables

/// Performs one trace record on a table with the model attached.
struct TraceStep<Format: PageTableFormat> {
  let mmu: MMU<Format, ImageTableMemory>
  let table: PageTable<Format, ObservedTableMemory<ImageTableMemory>>
  let space: AddressSpace
  let output: (String) -> Void

  mutating func perform(_ record: TraceRecord, line: Int, summary: inout TraceReplay.Summary)
    throws(TraceError)
  {
    guard let op = record.op else {
      throw .badField(line: line, field: "op", reason: "missing")
    }
    switch op {
    case "map":
      let protection = try Self.protection(record.prot ?? "r", line: line)
      let va = try record.number(record.va, "va", line: line)
      let pa = try record.number(record.pa, "pa", line: line)
      let size = try record.number(record.size, "size", line: line)
      do {
        try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
      } catch {
        throw .refused(line: line, error: error)
      }
    case "unmap":
      let va = try record.number(record.va, "va", line: line)
      let size = try record.number(record.size, "size", line: line)
      do {
        if record.invalidate ?? true {
          var gather = TLBGather(invalidator: mmu.invalidator(for: space))
          try table.unmap(virtualAddress: va, size: size, gather: &gather)
          table.flush(&gather)
        } else {
          var gather = TLBGather(invalidator: DroppingInvalidator())
          try table.unmap(virtualAddress: va, size: size, gather: &gather)
          table.flush(&gather)
        }
      } catch {
        throw .refused(line: line, error: error)
      }
    case "invalidate":
      mmu.invalidate(try command(record, line: line), vmid: space.vmid)
    case "access":
      let va = try record.number(record.va, "va", line: line)
      let kind = try Self.kind(record.kind ?? "read", line: line)
      let privilege: Privilege = record.user == true ? .user : .privileged
      do {
        let translation = try mmu.access(va, kind, privilege, in: space)
        output(
          "line \(line): \(privilege) \(kind) \(hex(va)) -> \(hex(translation.physicalAddress))"
            + (translation.servedByTLB ? " (TLB)" : ""))
      } catch {
        summary.faults += 1
        output("line \(line): \(error)")
      }
    case "free":
      mmu.pageFreed(
        physicalAddress: try record.number(record.pa, "pa", line: line),
        byteCount: try record.number(record.size, "size", line: line))
    case "check":
      mmu.checkQuiescent()
    default:
      throw .unknownOperation(line: line, name: op)
    }
  }

  /// The invalidation command a record describes.
  func command(_ record: TraceRecord, line: Int) throws(TraceError) -> TLBInvalidation {
    let asidValue = record.asid?.value ?? UInt64(space.asid)
    guard asidValue <= UInt64(UInt16.max) else {
      throw .badField(line: line, field: "asid", reason: "at most 65535")
    }
    let asid = UInt16(asidValue)
    let scope = record.scope ?? "all"
    switch scope {
    case "all": return .all
    case "asid": return .asid(asid)
    case "range", "asid-range":
      let start = try record.number(record.va, "va", line: line)
      let size = try record.number(record.size, "size", line: line)
      let granule = record.granule?.value ?? table.format.geometry.granule
      let leafOnly = record.leafOnly ?? true
      return scope == "range"
        ? .range(start: start, size: size, granule: granule, leafOnly: leafOnly)
        : .asidRange(asid: asid, start: start, size: size, granule: granule, leafOnly: leafOnly)
    default:
      throw .badField(
        line: line, field: "scope", reason: "'\(scope)' is not all, asid, range or asid-range")
    }
  }

  /// The protection spelled by `letters` (`r`, `w`, `x`, `u`, `g`).
  static func protection(_ letters: String, line: Int) throws(TraceError) -> Protection {
    var protection = Protection(read: false)
    for letter in letters {
      switch letter {
      case "r": protection.read = true
      case "w": protection.write = true
      case "x": protection.execute = true
      case "u": protection.user = true
      case "g": protection.global = true
      default:
        throw .badField(line: line, field: "prot", reason: "'\(letter)' is not one of r w x u g")
      }
    }
    return protection
  }

  /// The access kind called `name`.
  static func kind(_ name: String, line: Int) throws(TraceError) -> AccessKind {
    guard let kind = AccessKind(rawValue: name) else {
      throw .badField(line: line, field: "kind", reason: "'\(name)' is not read, write or execute")
    }
    return kind
  }
}

/// The invalidator of a driver whose invalidations never reach the hardware.
struct DroppingInvalidator: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}
