import FuzzInput
import PageTables
import PhysicalPageTables

#if canImport(Glibc)
  import Glibc
#endif

/// libFuzzer entry point: the first bytes choose a format and configuration (any
/// configuration, so refused ones are part of the test), the rest a sequence of
/// map, scatter-gather map, unmap, split, translate, dirty and flush operations,
/// with table memory that fails allocations on a seeded random schedule. Every
/// answer is checked against ``RangeModel``; a disagreement traps (a finding).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTableOperations(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
  // SAFETY: libFuzzer passes `count` readable bytes at `data`.
  var input = unsafe FuzzInput(data, count)
  TableOperations.run(&input)
  return 0
}

enum TableOperations {
  static func run(_ input: inout FuzzInput) {
    switch input.choose(5) {
    case 0:
      guard
        let format = try? ARM64Format(
          granule: input.pick(ARM64Format.Granule.allCases), stage: input.flag() ? .one : .two,
          inputBits: 30 + input.choose(24),
          outputBits: input.pick([32, 36, 40, 42, 44, 48, 52, 50]),
          translationBase: input.flag() ? .ttbr0 : .ttbr1, dirtyTracking: input.flag())
      else { return }
      exercise(format, &input)
    case 1:
      guard
        let format = try? X86_64Format(
          levels: 3 + input.choose(4), maxPhysicalAddressBits: 34 + input.choose(21),
          noExecute: input.flag(), gigabytePages: input.flag(),
          pat: input.flag() ? .powerOnDefault : .linux)
      else { return }
      exercise(format, &input)
    case 2:
      let format = RISCVFormat(
        input.pick([.sv39, .sv48, .sv57]), svnapot: input.flag(), svpbmt: input.flag(),
        setsDirtyAtMap: input.flag())
      exercise(format, &input)
    case 3:
      guard
        let format = try? AppleUATFormat(
          addressSpace: input.flag() ? .user : .kernel, outputBits: 36 + input.choose(12))
      else { return }
      exercise(format, &input)
    default:
      guard
        let format = try? AppleDARTFormat(
          version: input.flag() ? .dart1 : .dart2, granule: input.flag() ? .k4 : .k16,
          inputBits: 30 + input.choose(14))
      else { return }
      exercise(format, &input)
    }
  }

  static let protections: [Protection] = [
    .readOnly, .readWrite, .readExecute, Protection(write: true, user: true),
    Protection(execute: true, user: true), Protection(read: false),
    Protection(write: true, memoryType: .device), Protection(softwareBits: 1),
  ]

  static func exercise<Format: PageTableFormat>(_ format: Format, _ input: inout FuzzInput) {
    let geometry = format.geometry
    let g = geometry.granule
    let window = geometry.windows[input.choose(geometry.windows.count)]
    let outputLimit: UInt64 = geometry.outputBits >= 64 ? ~0 : 1 << UInt64(geometry.outputBits)
    let leafSizes = geometry.leafSizes
    guard let image = try? ImageTableMemory(base: 0x4000_0000, byteCount: 8 << 20) else {
      fatalError("an 8 MiB image at 1 GiB is valid")
    }
    let memory = FaultInjectingTableMemory(image)
    guard let table = try? PageTable(format: format, memory: memory) else { return }
    if input.flag() {
      memory.injectFaults(
        .failing(probability: Double(input.byte()) / 1024, seed: input.number(bytes: 2)))
    }
    var model = RangeModel()
    // FUZZ_TRACE=1 prints each operation (to reproduce a finding by hand).
    let tracing = unsafe getenv("FUZZ_TRACE") != nil
    func trace(_ text: @autoclosure () -> String) {
      if tracing {
        print(text())
        fflush(nil)
      }
    }
    trace("\(format) windows \(geometry.windows) faults \(memory.injector.policy)")

    /// A virtual address: usually one of a few leaf-aligned slots near the window's
    /// start, sometimes anything at all.
    func address() -> UInt64 {
      if input.choose(16) == 0 { return input.number(bytes: 8) }
      let size = leafSizes[input.choose(leafSizes.count)]
      let slot = (window.first &+ size &- 1) / size &* size &+ UInt64(input.choose(8)) &* size
      return slot &+ UInt64(input.choose(4)) &* g
    }
    func size() -> UInt64 {
      switch input.choose(8) {
      case 0: return input.number(bytes: 8)
      case 1, 2: return leafSizes[input.choose(leafSizes.count)] &* UInt64(1 + input.choose(2))
      default: return UInt64(1 + input.choose(20)) &* g
      }
    }
    func physical(_ size: UInt64) -> UInt64 {
      if input.choose(16) == 0 { return input.number(bytes: 8) }
      let align = max(g, size & (0 &- size))  // the size's lowest set bit
      return (input.number(bytes: 2) &* align) % max(outputLimit / 2, g) / g &* g
    }
    func check(_ address: UInt64, _ step: String) {
      let found = table.translate(address)
      let expected = model.translate(address)
      guard found?.physicalAddress == expected?.physicalAddress else {
        fatalError(
          "\(step): 0x\(String(address, radix: 16)) translates to \(String(describing: found)), model says \(String(describing: expected))"
        )
      }
      if let found, let expected, found.protection != expected.protection {
        fatalError("\(step): 0x\(String(address, radix: 16)) protection changed")
      }
    }
    /// A map that threw: refused as already mapped only over a mapping, and no
    /// table kept.
    func checkFailedMap(
      _ error: PageTableError, _ va: UInt64, _ size: UInt64, tablesBefore: Int, _ step: String
    ) {
      trace("  \(error); tables \(memory.liveTables)")
      if case .alreadyMapped = error, !model.overlaps(va, size) {
        fatalError("\(step) refused as already mapped over free addresses")
      }
      guard memory.liveTables == tablesBefore else {
        fatalError("\(step) failed and kept \(memory.liveTables - tablesBefore) tables")
      }
    }
    func checkAround(_ start: UInt64, _ size: UInt64, _ step: String) {
      for probe in [start, start &+ size / 2, start &+ size &- 1, start &- 1, start &+ size] {
        check(probe, step)
      }
    }

    var step = 0
    while !input.isAtEnd && step < 64 {
      step += 1
      switch input.choose(7) {
      case 0, 1:
        let (va, size, protection) = (address(), size(), input.pick(protections))
        let pa = physical(size)
        trace(
          "map va 0x\(String(va, radix: 16)) pa 0x\(String(pa, radix: 16)) size 0x\(String(size, radix: 16))"
        )
        let tablesBefore = memory.liveTables
        do {
          try table.map(virtualAddress: va, physicalAddress: pa, size: size, protection: protection)
          guard !model.overlaps(va, size) else {
            fatalError("map \(step) over a mapping succeeded")
          }
          guard let reported = table.translate(va)?.protection else {
            fatalError("map \(step) left nothing")
          }
          model.add(
            .init(virtualAddress: va, size: size, physicalAddress: pa, protection: reported))
        } catch {
          checkFailedMap(error, va, size, tablesBefore: tablesBefore, "map \(step)")
        }
        checkAround(va, size, "map \(step)")
      case 2:
        let va = address()
        let segments = (0..<1 + input.choose(3)).map { _ in
          PhysicalSegment(physicalAddress: physical(g), size: UInt64(1 + input.choose(4)) &* g)
        }
        let protection = input.pick(protections)
        let total = segments.reduce(0) { $0 &+ $1.size }
        trace("sg map va 0x\(String(va, radix: 16)) \(segments)")
        let tablesBefore = memory.liveTables
        do {
          try table.map(virtualAddress: va, segments: segments, protection: protection)
          guard !model.overlaps(va, total) else {
            fatalError("sg map \(step) over a mapping succeeded")
          }
          guard let reported = table.translate(va)?.protection else {
            fatalError("sg map \(step) left nothing")
          }
          var position = va
          for segment in segments {
            model.add(
              .init(
                virtualAddress: position, size: segment.size,
                physicalAddress: segment.physicalAddress, protection: reported))
            position += segment.size
          }
        } catch {
          checkFailedMap(error, va, total, tablesBefore: tablesBefore, "sg map \(step)")
        }
        checkAround(va, total, "sg map \(step)")
      case 3:
        let (va, size) = (address(), size())
        var gather = TLBGather(invalidator: NoTLB())
        trace("unmap va 0x\(String(va, radix: 16)) size 0x\(String(size, radix: 16))")
        do {
          let removed = try table.unmap(virtualAddress: va, size: size, gather: &gather)
          let expected = model.mappedBytes(va, size)
          guard removed == expected else {
            fatalError("unmap \(step) removed \(removed), model \(expected)")
          }
          model.remove(va, size)
        } catch {
          trace("  \(error)")
        }
        table.flush(&gather)
        checkAround(va, size, "unmap \(step)")
      case 4:
        let va = address()
        var gather = TLBGather(invalidator: NoTLB())
        trace("split 0x\(String(va, radix: 16))")
        _ = try? table.split(at: va, gather: &gather)
        table.flush(&gather)
        checkAround(va, g, "split \(step)")
      case 5:
        let (va, size) = (address(), size())
        try? table.readAndClearDirty(virtualAddress: va, size: size) { _, _ in }
        checkAround(va, size, "dirty \(step)")
      default:
        for mapping in model.mappings.prefix(8) {
          checkAround(mapping.virtualAddress, mapping.size, "translate \(step)")
        }
      }
    }
    // The dump holds exactly the model; after unmapping it all only the roots remain.
    memory.injectFaults(.never)
    for mapping in model.mappings { checkAround(mapping.virtualAddress, mapping.size, "final") }
    let dumped = table.dump().reduce(0) { $0 + $1.size }
    guard dumped == model.totalBytes else {
      fatalError("dump holds \(dumped) bytes, model \(model.totalBytes)")
    }
    // Cleanup unmaps every window whole: a map that failed may have left empty
    // tables where nothing is mapped (they translate nothing; an unmap over them
    // frees them), so unmapping only the model's ranges would not reach them.
    // Each window goes in two halves split at a granule boundary (a window need not
    // start at 0: Apple UAT's user window starts at its second page, so half its size
    // is not a granule multiple); a refused cleanup unmap is a finding, never skipped.
    var gather = TLBGather(invalidator: NoTLB())
    for window in geometry.windows {
      let half = ((window.last - window.first) / 2 + 1) / g * g
      for (start, size) in [
        (window.first, half), (window.first + half, window.last - window.first + 1 - half),
      ] {
        do {
          _ = try table.unmap(virtualAddress: start, size: size, gather: &gather)
        } catch {
          fatalError(
            "cleanup unmap 0x\(String(start, radix: 16)) size 0x\(String(size, radix: 16)): \(error)"
          )
        }
      }
    }
    table.flush(&gather)
    guard table.dump().isEmpty else { fatalError("mappings left after unmapping the model") }
    guard memory.liveTables == table.rootCount else {
      fatalError("\(memory.liveTables - table.rootCount) tables left after unmapping everything")
    }
  }
}

/// An invalidator with no TLB behind it.
struct NoTLB: TLBInvalidator {
  mutating func invalidateAll() {}
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
}
