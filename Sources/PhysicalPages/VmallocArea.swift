import CPageMemory

/// The machine's vmalloc area: one reserved `PROT_NONE` virtual range into which
/// single memfd pages are mapped (`MAP_FIXED | MAP_SHARED`) to build virtually
/// contiguous, physically scattered buffers (``VmallocBuffer``).
///
/// The range is reserved on the first `vmalloc`, not when the machine is created.
/// Virtual page `p` of the area shows frame `slots[p]` (no key = nothing mapped),
/// which is what `vmalloc_to_page` looks up. The table is sparse, so a large area
/// costs only its reservation.
///
/// ```swift
/// var area = VmallocArea(byteCount: 256 << 20, pageSize: 4096)
/// let start = try area.allocateRange(pageCount: 3)  // reserves the area if needed
/// area.releaseRange(start: start, pageCount: 3)
/// ```
///
/// ## Invariants
/// - `freeRanges` are disjoint, sorted, non-empty ranges of virtual page indices.
/// - A virtual page outside every free range belongs to exactly one live buffer.
/// - `slots[p] != nil` exactly when a page is mapped at virtual page `p`.
@safe struct VmallocArea {
  let byteCount: Int
  let pageSize: Int
  private(set) var base: UnsafeMutableRawPointer? = nil
  private var slots: [Int: UInt32] = [:]
  private var freeRanges: [Range<Int>] = []

  init(byteCount: Int, pageSize: Int) {
    self.byteCount = byteCount
    self.pageSize = pageSize
  }

  var pageCount: Int { byteCount / pageSize }

  /// Finds and takes a free run of `pageCount` virtual pages (first fit).
  mutating func allocateRange(pageCount count: Int) throws(PageError) -> Int {
    if unsafe base == nil {
      guard let reserved = unsafe cpm_reserve(byteCount) else {
        throw .systemCallFailed("mmap(vmalloc reservation)", errno: cpm_errno())
      }
      unsafe base = reserved
      freeRanges = [0..<pageCount]
    }
    guard let position = freeRanges.firstIndex(where: { $0.count >= count }) else {
      throw .vmallocAreaExhausted(byteCount: count * pageSize)
    }
    let range = freeRanges[position]
    if range.count == count {
      freeRanges.remove(at: position)
    } else {
      freeRanges[position] = range.lowerBound + count..<range.upperBound
    }
    return range.lowerBound
  }

  /// Gives a run of virtual pages back (its pages must already be unmapped).
  mutating func releaseRange(start: Int, pageCount count: Int) {
    var range = start..<start + count
    let position = freeRanges.firstIndex(where: { $0.lowerBound > start }) ?? freeRanges.endIndex
    var insertAt = position
    if position < freeRanges.endIndex && freeRanges[position].lowerBound == range.upperBound {
      range = range.lowerBound..<freeRanges[position].upperBound
      freeRanges.remove(at: position)
    }
    if position > 0 && freeRanges[position - 1].upperBound == range.lowerBound {
      range = freeRanges[position - 1].lowerBound..<range.upperBound
      freeRanges.remove(at: position - 1)
      insertAt -= 1
    }
    freeRanges.insert(range, at: insertAt)
  }

  /// Records that virtual page `page` shows frame `index` (nil: nothing).
  mutating func setSlot(_ page: Int, frameIndex index: Int?) {
    slots[page] = index.map { UInt32($0) }
  }

  /// The virtual page of `address` if it lies in the area.
  func virtualPage(of address: UInt) -> Int? {
    guard let base = unsafe base else { return nil }
    let start = UInt(bitPattern: base)
    guard address >= start, address - start < UInt(byteCount) else { return nil }
    return Int(address - start) / pageSize
  }

  /// The frame index shown at virtual page `page`, if any.
  func frameIndex(atVirtualPage page: Int) -> Int? {
    slots[page].map { Int($0) }
  }

  /// Unmaps the whole reservation (the machine is going away).
  mutating func releaseReservation() {
    if let base = unsafe base {
      _ = unsafe cpm_unmap(base, byteCount)
      unsafe self.base = nil
    }
  }
}
