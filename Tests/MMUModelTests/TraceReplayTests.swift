import MMUModel
import PageTables
import Testing

/// `pgtable replay`'s library half: traces replay through the engine and the model.
@Suite struct TraceReplayTests {
  @Test func theDocCommentExampleReportsTheStaleTranslation() throws {
    var output: [String] = []
    let summary = try TraceReplay.run(lines: [
      #"{"format": "arm64-4k", "asid": 1}"#,
      #"{"op": "map", "va": "0x200000", "pa": "0x80200000", "size": "0x1000", "prot": "rw"}"#,
      #"{"op": "access", "va": "0x200010", "kind": "write"}"#,
      #"{"op": "unmap", "va": "0x200000", "size": "0x1000", "invalidate": false}"#,
      #"{"op": "access", "va": "0x200010"}"#,
    ]) { output.append($0) }
    let rules = summary.reports.map(\.rule)
    #expect(rules.first == .tableFreedWhileReachable)
    #expect(rules.last == .staleTranslation)
    #expect(summary.operations == 4)
    #expect(output.last == "4 operations, 0 faults, \(summary.reports.count) reports")
    #expect(output.contains { $0.hasPrefix("line 5: staleTranslation") })
  }

  @Test(arguments: TraceReplay.formatNames)
  func aCorrectDriverReplaysWithoutReport(_ name: String) throws {
    // Addresses inside every format's window (UAT kernel space is the upper one,
    // with global leaves only).
    let va: UInt64 = name == "uat-kernel" ? 0xffff_ffa0_0000_0000 : 0x100_0000
    let prot = name == "uat-kernel" ? "rwg" : "rw"
    let lines = [
      #"{"format": "\#(name)", "asid": 3}"#,
      #"{"op": "map", "va": \#(va), "pa": "0x8000_0000", "size": "0x10000", "prot": "\#(prot)"}"#,
      #"{"op": "access", "va": \#(va + 0x10), "kind": "read"}"#,
      #"{"op": "unmap", "va": \#(va), "size": "0x10000"}"#,
      #"{"op": "free", "pa": "0x80000000", "size": "0x10000"}"#,
      #"{"op": "access", "va": \#(va + 0x10)}"#,
      #"{"op": "check"}"#,
    ]
    let summary = try TraceReplay.run(lines: lines) { _ in }
    #expect(summary.reports.isEmpty, "\(summary.reports)")
    #expect(summary.faults == 1)
  }

  @Test func badTracesAreTypedErrors() throws {
    func error(_ lines: [String]) -> TraceError? {
      do {
        _ = try TraceReplay.run(lines: lines) { _ in }
        return nil
      } catch {
        return error
      }
    }
    let header = #"{"format": "riscv-sv48"}"#
    guard case .malformedLine(line: 1, _) = error([]) else {
      Issue.record("an empty trace")
      return
    }
    guard case .unknownFormat(line: 1, name: "pdp-11", _) = error([#"{"format": "pdp-11"}"#])
    else {
      Issue.record("an unknown format")
      return
    }
    guard case .malformedLine(line: 2, _) = error([header, "{not json"]) else {
      Issue.record("a line that is not JSON")
      return
    }
    guard case .unknownOperation(line: 2, name: "remap") = error([header, #"{"op": "remap"}"#])
    else {
      Issue.record("an unknown operation")
      return
    }
    guard
      case .badField(line: 2, field: "size", _) = error([
        header, #"{"op": "map", "va": 4096, "pa": 4096}"#,
      ])
    else {
      Issue.record("a missing size")
      return
    }
    guard
      case .badField(line: 2, field: "prot", _) = error([
        header, #"{"op": "map", "va": 4096, "pa": 4096, "size": 4096, "prot": "rwz"}"#,
      ])
    else {
      Issue.record("a bad protection letter")
      return
    }
    guard
      case .refused(line: 2, _) = error([
        header, #"{"op": "map", "va": 4097, "pa": 4096, "size": 4096}"#,
      ])
    else {
      Issue.record("a misaligned map")
      return
    }
    guard case .unreadableFile = Self.unreadable() else {
      Issue.record("a missing file")
      return
    }
  }

  static func unreadable() -> TraceError? {
    do {
      _ = try TraceReplay.run(path: "/nonexistent/trace.jsonl") { _ in }
      return nil
    } catch {
      return error
    }
  }
}
