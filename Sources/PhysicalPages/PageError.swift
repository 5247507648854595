/// Everything that can go wrong when a caller asks the page layer for something.
///
/// A bad argument is reported with one of these values; it never crashes the
/// process. (A broken internal invariant, such as a double free, does trap.)
///
/// ```swift
/// do {
///   try memory.withPage(at: 0x1000) { _ in }
/// } catch {
///   print(error)  // physical address 0x1000 is outside RAM
/// }
/// ```
public enum PageError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The configured page size is not 4, 16 or 64 KiB.
  case invalidPageSize(Int)
  /// The configured RAM size is zero, not a multiple of the page size, or too large.
  case invalidMemorySize(Int)
  /// The configured base address is not aligned to the largest block, or RAM would wrap.
  case misalignedBaseAddress(PhysicalAddress)
  /// The configured vmalloc area size is not a positive multiple of the page size.
  case invalidVmallocAreaSize(Int)
  /// A system call (named) failed with the errno given while changing the mappings.
  case systemCallFailed(String, errno: Int32)
  /// No free block of the requested order is left in RAM.
  case outOfMemory(order: Int)
  /// The requested block order is outside `0...PhysicalMemory.maxOrder`.
  case invalidOrder(Int)
  /// The physical address lies outside this machine's RAM.
  case addressOutsideRAM(PhysicalAddress)
  /// The physical address is not aligned to the page size.
  case misalignedAddress(PhysicalAddress)
  /// The frame is not part of an allocated block (it is free, cached, unused or quarantined).
  case pageNotAllocated(frame: UInt64)
  /// The frame was never handed out with `intoPhysicalAddress()`, or was already taken back.
  case notHandedOut(frame: UInt64)
  /// An access of `count` bytes at `offset` does not fit in the block of `limit` bytes at the frame.
  case outOfBounds(frame: UInt64, offset: Int, count: Int, limit: Int)
  /// The freed block at the frame was written after it was freed (poison broken at `offset`).
  case poisonOverwritten(frame: UInt64, offset: Int)
  /// The pointer lies in neither the direct map nor the vmalloc area.
  case addressNotMapped(address: UInt)
  /// The pointer lies in the vmalloc area but no page is mapped there.
  case vmallocAddressNotMapped(address: UInt)
  /// The pointer is not aligned to the page size.
  case misalignedPointer(address: UInt)
  /// The buffer slice at the address does not cover exactly one page.
  case wrongSliceSize(address: UInt, count: Int)
  /// The vmalloc area has no free virtual range of `byteCount` bytes.
  case vmallocAreaExhausted(byteCount: Int)
  /// A byte count must be positive.
  case invalidByteCount(Int)
  /// A request of `byteCount` bytes exceeds what this machine can ever hold
  /// (`limit` bytes: its RAM, or its vmalloc area); nothing was reserved.
  case exceedsMachine(byteCount: Int, limit: Int)

  /// A one-line message naming the frame, address or value concerned.
  public var description: String {
    switch self {
    case .invalidPageSize(let size):
      return "page size \(size) is not 4096, 16384 or 65536 bytes"
    case .invalidMemorySize(let size):
      return "RAM size \(size) bytes is zero, not a page multiple, or too large"
    case .misalignedBaseAddress(let base):
      return "RAM base address \(base) is not aligned to the largest block or wraps"
    case .invalidVmallocAreaSize(let size):
      return "vmalloc area size \(size) bytes is not a positive page multiple"
    case .systemCallFailed(let call, let errno):
      return "\(call) failed with errno \(errno)"
    case .outOfMemory(let order):
      return "out of memory: no free block of order \(order)"
    case .invalidOrder(let order):
      return "order \(order) is outside 0...\(PhysicalMemory.maxOrder)"
    case .addressOutsideRAM(let address):
      return "physical address \(address) is outside RAM"
    case .misalignedAddress(let address):
      return "physical address \(address) is not page-aligned"
    case .pageNotAllocated(let frame):
      return "\(frameDescription(frame)) is not allocated"
    case .notHandedOut(let frame):
      return "\(frameDescription(frame)) was not handed out as a physical address"
    case .outOfBounds(let frame, let offset, let count, let limit):
      return
        "\(frameDescription(frame)): \(count) bytes at offset \(offset) exceed the block's \(limit) bytes"
    case .poisonOverwritten(let frame, let offset):
      return
        "\(frameDescription(frame)) was modified after free (poison broken at offset \(offset))"
    case .addressNotMapped(let address):
      return "address 0x\(String(address, radix: 16)) is in neither the direct map nor vmalloc"
    case .vmallocAddressNotMapped(let address):
      return "vmalloc address 0x\(String(address, radix: 16)) has no page mapped"
    case .misalignedPointer(let address):
      return "address 0x\(String(address, radix: 16)) is not page-aligned"
    case .wrongSliceSize(let address, let count):
      return "slice at 0x\(String(address, radix: 16)) is \(count) bytes, not one page"
    case .vmallocAreaExhausted(let byteCount):
      return "vmalloc area has no free range of \(byteCount) bytes"
    case .invalidByteCount(let count):
      return "byte count \(count) is not positive"
    case .exceedsMachine(let byteCount, let limit):
      return "\(byteCount) bytes exceed what this machine can hold (\(limit) bytes)"
    }
  }
}
