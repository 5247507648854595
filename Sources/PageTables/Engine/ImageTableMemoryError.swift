/// Why an ``ImageTableMemory`` refused the image it was asked to make.
///
/// ```swift
/// do {
///   _ = try ImageTableMemory(base: 0 &- 0x2000, byteCount: 0x4000)
/// } catch {
///   print(error)  // the image 0xffffffffffffe000 + 0x4000 runs past the top of the address space
/// }
/// ```
public enum ImageTableMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The size is not a positive whole number of 4 KiB pages.
  case notWholePages(byteCount: Int)
  /// `[base, base + byteCount)` runs past the top of the 64-bit address space, so
  /// some table addresses would wrap around to 0.
  case wrapsAddressSpace(base: UInt64, byteCount: Int)
  /// `byteCount` bytes at `physicalAddress` are not a table the image handed out
  /// and still holds (outside it, misaligned, of no table's size, or freed).
  case notATable(physicalAddress: UInt64, byteCount: Int)

  /// One sentence naming the base or size at fault, in hexadecimal.
  public var description: String {
    switch self {
    case .notWholePages(let byteCount):
      "the image size \(byteCount) is not a positive whole number of 4 KiB pages"
    case .wrapsAddressSpace(let base, let byteCount):
      "the image 0x\(hex(base)) + 0x\(hex(UInt64(byteCount))) runs past the top of the address space"
    case .notATable(let address, let byteCount):
      "\(byteCount) bytes at 0x\(hex(address)) are not a table this image handed out and holds"
    }
  }
}
