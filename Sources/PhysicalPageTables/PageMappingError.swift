import PageTables

/// Why an ``OwningPageTable`` refused an unmap.
///
/// ```swift
/// do {
///   try gpu.unmap(virtualAddress: 0x10_1000, size: 0x1000, gather: &gather)
/// } catch .splitsMappedPage(let start, let size) {
///   print("unmap the whole page at \(start) (\(size) bytes)")
/// } catch {
///   print(error)
/// }
/// ```
public enum PageMappingError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The engine refused the range (see `PageTableError`); nothing changed.
  case pageTable(PageTableError)
  /// The range cuts through the page mapped at `virtualAddress` (`size` bytes): a
  /// mapped page is unmapped whole, so that its reference is dropped exactly when
  /// none of it is mapped. Nothing changed.
  case splitsMappedPage(virtualAddress: UInt64, size: UInt64)

  /// One sentence naming the range at fault.
  public var description: String {
    switch self {
    case .pageTable(let error): error.description
    case .splitsMappedPage(let start, let size):
      "the range cuts through the \(ValueText.size(size)) page mapped at \(ValueText.hex(start)); "
        + "unmap it whole"
    }
  }
}
