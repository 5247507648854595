import FuzzInput
import PhysicalPages

/// libFuzzer entry point: a machine configured from the first bytes (any values,
/// so refused configurations are part of the test), then a sequence of page-layer
/// calls with hostile arguments. Every bad argument must come back as a
/// `PageError`; a trap is a finding. At the end every page is dropped and the
/// leak report must be empty.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPageLayer(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
  // SAFETY: libFuzzer passes `count` readable bytes at `data`.
  var input = unsafe FuzzInput(data, count)
  PageLayer.run(&input)
  return 0
}

enum PageLayer {
  static func run(_ input: inout FuzzInput) {
    let pageSize = input.pick([4096, 16384, 65536, 8192, 0, -4096])
    let configuration = PhysicalMemory.Configuration(
      baseAddress: PhysicalAddress(input.choose(8) == 0 ? input.number(bytes: 8) : 0x8000_0000),
      // Up to 64 MiB, or a hostile value.
      byteCount: input.choose(8) == 0 ? input.integer() : (1 + input.choose(64)) << 20,
      pageSize: pageSize,
      vmallocAreaByteCount: input.choose(8) == 0 ? input.integer() : (1 + input.choose(64)) << 20,
      poisonFreedPages: input.flag(), recordAllocationSites: input.flag())
    guard let memory = try? PhysicalMemory(configuration: configuration) else { return }
    if input.choose(4) == 0 {
      memory.injectFaults(
        .failing(probability: Double(input.byte()) / 512, seed: input.number(bytes: 2)))
    }
    exercise(memory, &input)
    memory.injectFaults(.never)
    guard memory.leakReport().isEmpty else { fatalError("pages left: \(memory.leakReport())") }
  }

  static func exercise(_ memory: PhysicalMemory, _ input: inout FuzzInput) {
    var pages: [SharedPage] = []
    var handedOut: [PhysicalAddress] = []
    let ram = memory.physicalRange
    func address() -> PhysicalAddress {
      switch input.choose(4) {
      case 0: return PhysicalAddress(input.number(bytes: 8))
      case 1: return handedOut.isEmpty ? ram.lowerBound : handedOut[input.choose(handedOut.count)]
      default:
        let span = ram.upperBound.rawValue - ram.lowerBound.rawValue
        return ram.lowerBound + (input.number(bytes: 4) % span) & ~7
      }
    }
    var step = 0
    while !input.isAtEnd && step < 96 {
      step += 1
      switch input.choose(10) {
      case 0:
        let order =
          input.choose(4) == 0 ? input.integer() : input.choose(PhysicalMemory.maxOrder + 1)
        if let page = try? memory.allocatePages(order: order, zeroed: input.flag()) {
          if input.flag() {
            handedOut.append(page.intoPhysicalAddress())
          } else {
            pages.append(SharedPage(page))
          }
        }
      case 1:
        if !pages.isEmpty { pages.remove(at: input.choose(pages.count)) }
      case 2:
        // Take back an address: exactly once for a handed-out one, refused otherwise.
        let target = address()
        let wasHandedOut = handedOut.firstIndex(of: target)
        do {
          let page = try unsafe Page(fromPhysicalAddress: target, in: memory)
          guard let position = wasHandedOut else {
            fatalError("took back \(target), never handed out")
          }
          handedOut.remove(at: position)
          pages.append(SharedPage(page))
        } catch {
          if wasHandedOut != nil {
            fatalError("could not take back handed-out \(target): \(error)")
          }
        }
      case 3:
        let target = address()
        let (offset, count) = (
          input.integer(), input.choose(4) == 0 ? input.integer() : input.choose(64)
        )
        _ = try? memory.withPage(at: target) { (page) throws(PageError) -> [UInt8] in
          try page.write(Array(repeating: 0xA5, count: max(0, min(count, 64))), at: offset)
          return try page.read(at: offset, count: count)
        }
      case 4:
        guard !pages.isEmpty else { break }
        let shared = pages[input.choose(pages.count)]
        let (offset, count) = (input.integer(), input.integer())
        shared.withPage { page in
          _ = try? page.read(at: offset, count: count)
          _ = try? page.load(as: UInt64.self, at: offset)
          try? page.storeBytes(of: UInt32(7), at: offset)
          try? page.fillZero(offset..<max(offset, count))
          _ = try? page.withPointer(into: offset, count: count) { _ in 0 }
          if input.flag() { pages.append(SharedPage(sharing: page)) }
        }
      case 5, 6:
        let byteCount =
          input.choose(3) == 0 ? input.integer() : 1 + input.choose(8 * memory.pageSize)
        guard var buffer = try? memory.vmalloc(byteCount: byteCount, zeroed: input.flag()) else {
          break
        }
        let (offset, count) = (
          input.integer(), input.choose(4) == 0 ? input.integer() : input.choose(64)
        )
        _ = try? buffer.write(Array(repeating: 1, count: max(0, min(count, 64))), at: offset)
        _ = try? buffer.read(at: offset, count: count)
        // SAFETY: the buffer is alive and `pageCount` pages are mapped from its base.
        let base = unsafe buffer.unsafeBaseAddress
        let page = input.choose(buffer.pageCount) * memory.pageSize
        let found = try? unsafe memory.withPage(vmallocAddress: base + page) { $0.physicalAddress }
        guard found == buffer.physicalAddresses[page / memory.pageSize] else {
          fatalError("vmalloc_to_page disagrees with the buffer")
        }
      case 7:
        let pointer = UInt(truncatingIfNeeded: input.number(bytes: 8)) | 1
        if let raw = unsafe UnsafeRawPointer(bitPattern: pointer) {
          _ = try? memory.physicalAddress(ofDirectMapAddress: raw)
          _ = try? memory.withPage(directMapAddress: raw) { $0.physicalAddress }
          _ = try? memory.withPage(vmallocAddress: raw) { $0.physicalAddress }
        }
      case 8:
        _ = try? memory.frameNumber(of: address())
        _ = try? memory.physicalAddress(ofFrame: input.number(bytes: 8))
        _ = memory.statistics()
      default:
        memory.drainThreadCache()
      }
    }
    for address in handedOut {
      // SAFETY: each address was handed out by this harness and is taken back once.
      guard let page = try? unsafe Page(fromPhysicalAddress: address, in: memory) else {
        fatalError("could not take back \(address)")
      }
      _ = consume page
    }
  }
}
