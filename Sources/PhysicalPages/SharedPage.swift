/// A page block shared by reference count on its descriptor: the kernel's `ARef<Page>`.
///
/// Creating a `SharedPage` holds one reference on the block (get_page); when the
/// last copy of that `SharedPage` goes, the reference is dropped (put_page). The block
/// is freed when its last owner, `Page` or `SharedPage`, goes.
///
/// ```swift
/// let page = try memory.allocatePage()
/// let shared = SharedPage(sharing: page)   // reference count 2
/// let copy = shared                        // same box: still 2
/// _ = consume page                         // 1: the block lives on in `shared`
/// print(copy.referenceCount)
/// ```
///
/// ## Invariants
/// - The box owns exactly one reference on the allocated block at `index`.
/// - The box keeps the machine's mappings alive (strong reference to the core).
public struct SharedPage: Sendable {
  final class Box: Sendable {
    let core: MemoryCore
    let index: Int
    let order: Int

    init(core: MemoryCore, index: Int, order: Int) {
      self.core = core
      self.index = index
      self.order = order
    }

    deinit { core.putReference(index) }
  }

  let box: Box

  /// Takes over the page's reference (no count change).
  public init(_ page: consuming Page) {
    box = Box(core: unsafe page.core, index: page.index, order: page.order)
    page.forget()
  }

  /// Takes a new reference on a page (get_page): the count goes up by one.
  public init(sharing page: borrowing Page) {
    unsafe page.core.getReference(page.index)
    box = Box(core: unsafe page.core, index: page.index, order: page.order)
  }

  /// The physical address of the block's first byte.
  public var physicalAddress: PhysicalAddress { box.core.physicalAddress(box.index) }

  /// The page frame number of the block's first page.
  public var frameNumber: UInt64 { box.core.frameNumber(box.index) }

  /// The block's order.
  public var order: Int { box.order }

  /// The block's size in bytes.
  public var byteCount: Int { box.core.pageSize << box.order }

  /// The descriptor's reference count right now (all owners of the block).
  public var referenceCount: Int {
    Int(unsafe box.core.descriptor(box.index).pointee.referenceCount.load(ordering: .relaxed))
  }

  /// Lends the block as a `Page` for `body` (no count change).
  public func withPage<R, E: Error>(_ body: (borrowing Page) throws(E) -> R) throws(E) -> R {
    try box.core.withBorrowedPage(box.index, order: box.order, body)
  }
}
