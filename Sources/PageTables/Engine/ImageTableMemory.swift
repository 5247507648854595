/// Table memory that is one flat image at a chosen physical base address.
///
/// Use it to build tables for another machine's address space (a boot loader's
/// prebuilt tables, written out as a file and loaded at `base`), for tests, or on
/// bare metal where the image is the program's own RAM (identity mapped).
///
/// ```swift
/// let image = try ImageTableMemory(base: 0x4010_0000, byteCount: 1 << 20)
/// let table = try PageTable(format: RISCVFormat(.sv48), memory: image)
/// try table.map(virtualAddress: 0, physicalAddress: 0x8000_0000, size: 1 << 30,
///               protection: .readWrite)
/// let bytes = image.bytes()        // load these at 0x4010_0000 and point satp at the root
/// ```
///
/// Tables are carved from the image in address order (aligned to their size) and
/// freed tables are reused by size. Each table's bookkeeping word lives in a side
/// table, outside the image, so the image holds the hardware's tables and nothing
/// else. The side table grows with the part of the image handed out (in segments
/// that never move, each twice the last), not with the image's size: a 1 GiB image
/// holding a few tables costs a few KiB of bookkeeping.
///
/// ## Invariants
/// `storage` is valid for `byteCount` bytes; `segments` holds
/// `segmentCount` pointers, segment `k` (if allocated) holding
/// `firstSegmentWords << k` zero-initialized words, the words for image offsets
/// `[wordGranule * firstSegmentWords * (2^k - 1), ...)`; every table handed out
/// has its segment allocated; `next` is the first never-used byte.
@safe
public final class ImageTableMemory: TableMemory, @unchecked Sendable {
  /// The physical address of the image's first byte.
  public let base: UInt64
  /// The image's size in bytes.
  public let byteCount: Int
  let storage: UnsafeMutableRawPointer
  let ownsStorage: Bool
  /// Segment pointers (nil until a table in the segment is handed out).
  let segments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  let lock = SpinLock()
  var next = 0
  var freeLists: [(byteCount: Int, offsets: [Int])] = []
  var live = 0
  var highWater = 0
  /// Bytes of bookkeeping allocated so far.
  var sideBytes = 0

  /// Bytes of image per bookkeeping word: the smallest table handed out.
  static var wordGranule: Int { 64 }
  /// Words in the first segment (the words of 32 KiB of image).
  static var firstSegmentWords: Int { 512 }
  /// Segments: enough for any image an `Int` can size.
  static var segmentCount: Int { 48 }

  /// Makes an image of `byteCount` bytes that will be loaded at `base`. Its bytes
  /// are zeroed as tables (and the alignment gaps before them) are handed out, so
  /// ``bytes(length:)`` of the used part is all zeros but the tables.
  ///
  /// - Throws: ``ImageTableMemoryError/notWholePages(byteCount:)`` unless
  ///   `byteCount` is a positive multiple of 4 KiB;
  ///   ``ImageTableMemoryError/wrapsAddressSpace(base:byteCount:)`` if the image
  ///   would run past the top of the 64-bit address space.
  public init(base: UInt64, byteCount: Int) throws(ImageTableMemoryError) {
    try Self.check(base: base, byteCount: byteCount)
    self.base = base
    self.byteCount = byteCount
    // SAFETY: a fresh allocation of byteCount bytes; every byte below `next` is
    // zeroed before it is handed out, and nothing reads above `next`.
    unsafe self.storage = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 65536)
    self.ownsStorage = true
    unsafe self.segments = Self.makeSegmentTable()
  }

  /// Uses `byteCount` bytes at `storage` as the image, as they are: on bare metal,
  /// RAM that the program's MMU maps at the same address (`base` is then
  /// `storage`'s address).
  ///
  /// - Safety: `storage` must be valid for reads and writes of `byteCount` bytes,
  ///   aligned to the largest table the format uses, and used by nothing else while
  ///   this object lives (tables are zeroed as they are handed out).
  /// - Throws: as ``init(base:byteCount:)``.
  @unsafe
  public init(base: UInt64, byteCount: Int, storage: UnsafeMutableRawPointer)
    throws(ImageTableMemoryError)
  {
    try Self.check(base: base, byteCount: byteCount)
    self.base = base
    self.byteCount = byteCount
    unsafe self.storage = storage
    self.ownsStorage = false
    unsafe self.segments = Self.makeSegmentTable()
  }

  /// Refuses an image that is not whole pages or that wraps around 2^64.
  static func check(base: UInt64, byteCount: Int) throws(ImageTableMemoryError) {
    guard byteCount > 0 && byteCount % 4096 == 0 else {
      throw .notWholePages(byteCount: byteCount)
    }
    // The last byte may be 2^64 - 1; past it, addresses would wrap to 0.
    guard !base.addingReportingOverflow(UInt64(byteCount) - 1).overflow else {
      throw .wrapsAddressSpace(base: base, byteCount: byteCount)
    }
  }

  /// An empty segment table.
  static func makeSegmentTable() -> UnsafeMutablePointer<UnsafeMutableRawPointer?> {
    let table = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: segmentCount)
    // SAFETY: a fresh allocation of segmentCount pointers, initialized here.
    unsafe table.initialize(repeating: nil, count: segmentCount)
    return unsafe table
  }

  deinit {
    if ownsStorage { unsafe storage.deallocate() }
    for k in 0..<Self.segmentCount {
      unsafe segments[k]?.deallocate()
    }
    unsafe segments.deallocate()
  }

  /// The segment and word index within it that hold word `index`.
  @inline(__always)
  static func segment(ofWord index: Int) -> (segment: Int, word: Int) {
    let group = index / firstSegmentWords &+ 1
    let segment = Int.bitWidth &- 1 &- group.leadingZeroBitCount
    return (segment, index &- firstSegmentWords &* ((1 &<< segment) &- 1))
  }

  /// Allocates the segment holding the word of the table at `offset` if it is not
  /// yet there (under the lock, before the table is handed out).
  func ensureWord(forOffset offset: Int) {
    let segment = Self.segment(ofWord: offset / Self.wordGranule).segment
    guard unsafe segments[segment] == nil else { return }
    let words = Self.firstSegmentWords << segment
    let memory = UnsafeMutableRawPointer.allocate(byteCount: words * 8, alignment: 64)
    unsafe memory.initializeMemory(as: UInt64.self, repeating: 0, count: words)
    unsafe segments[segment] = memory
    sideBytes += words * 8
  }

  /// The bookkeeping word of the table at `offset` (its segment is allocated).
  @inline(__always)
  func word(forOffset offset: Int) -> UnsafeMutableRawPointer {
    let (segment, word) = Self.segment(ofWord: offset / Self.wordGranule)
    // SAFETY: the table at `offset` was handed out, so its segment is allocated and
    // holds `word`; it was stored before the table's address was published.
    guard let memory = unsafe segments[segment] else {
      fatalError("ImageTableMemory: a table outside every allocated segment")
    }
    return unsafe memory + word &* 8
  }

  /// Bytes of bookkeeping allocated outside the image (grows with the tables handed
  /// out, not with the image's size).
  public var bookkeepingBytes: Int { lock.withLock { sideBytes } }

  /// Tables currently allocated.
  public var liveTables: Int { lock.withLock { live } }
  /// The highest image offset ever used: the image's meaningful length.
  public var usedBytes: Int { lock.withLock { highWater } }

  /// A copy of the image's first `usedBytes` bytes, or of `length` bytes (zeros
  /// past the used part).
  public func bytes(length: Int? = nil) -> [UInt8] {
    let used = usedBytes
    let count = min(length ?? used, byteCount)
    // SAFETY: min(count, used) bytes are inside the storage and initialized.
    var bytes = unsafe [UInt8](UnsafeRawBufferPointer(start: storage, count: min(count, used)))
    if count > used { bytes.append(contentsOf: repeatElement(0, count: count - used)) }
    return bytes
  }

  /// Reads the 64-bit little-endian word at physical address `address`, or `nil`
  /// if it is outside the used part of the image (for walking tables as hardware would).
  public func readWord(at address: UInt64) -> UInt64? {
    let used = UInt64(usedBytes)
    guard address >= base, address &- base < used, address & 7 == 0 else {
      return nil
    }
    return unsafe storage.load(fromByteOffset: Int(address &- base), as: UInt64.self)
  }

  public func allocateTable(byteCount size: Int) -> UInt64? {
    allocate(size, zeroed: true)
  }

  public func allocateTableForOverwrite(byteCount size: Int) -> UInt64? {
    allocate(size, zeroed: false)
  }

  /// A table of `size` bytes, zeroed or left for the engine to overwrite whole.
  func allocate(_ size: Int, zeroed: Bool) -> UInt64? {
    // A size that is no table (not a power of two, or larger than the image) gets
    // nothing, like a full image, rather than a trap in the arithmetic below.
    guard size > 0 && size & (size &- 1) == 0 && size <= byteCount else { return nil }
    let size = max(size, Self.wordGranule)
    let offset: Int? = lock.withLock {
      if let list = freeLists.firstIndex(where: { $0.byteCount == size }),
        let reused = freeLists[list].offsets.popLast()
      {
        live += 1
        return reused
      }
      let aligned = (next + size - 1) & ~(size - 1)
      guard aligned + size <= byteCount else { return nil }
      // SAFETY: [next, aligned) lies inside the image; zeroing the gap keeps every
      // byte below `next` initialized.
      unsafe (storage + next).initializeMemory(
        as: UInt64.self, repeating: 0, count: (aligned - next) / 8)
      next = aligned + size
      highWater = max(highWater, next)
      live += 1
      ensureWord(forOffset: aligned)
      return aligned
    }
    guard let offset else { return nil }
    if zeroed {
      // SAFETY: [offset, offset + size) lies inside the image (checked above).
      unsafe (storage + offset).initializeMemory(as: UInt64.self, repeating: 0, count: size / 8)
    }
    unsafe word(forOffset: offset).storeBytes(of: 0, as: UInt64.self)
    return base &+ UInt64(offset)
  }

  public func freeTable(at physicalAddress: UInt64, byteCount size: Int) {
    let size = max(size, Self.wordGranule)
    let offset = checkedOffset(physicalAddress, size)
    lock.withLock {
      live -= 1
      if let list = freeLists.firstIndex(where: { $0.byteCount == size }) {
        freeLists[list].offsets.append(offset)
      } else {
        freeLists.append((size, [offset]))
      }
    }
  }

  public func withTable<R>(
    at physicalAddress: UInt64, byteCount size: Int, _ body: (TableView) -> R
  )
    -> R
  {
    // SAFETY: the view is used only during the call, while the table is allocated.
    body(unsafe unsafeTable(at: physicalAddress, byteCount: size))
  }

  @unsafe @inline(__always)
  public func unsafeTable(at physicalAddress: UInt64, byteCount size: Int) -> TableView {
    let offset = checkedOffset(physicalAddress, max(size, Self.wordGranule))
    // SAFETY: the table lies inside the image (checked) and its word inside `words`,
    // both valid while this object lives (the engine holds it for as long as it uses
    // the view); entries are only accessed through the view's atomics.
    return unsafe TableView(
      entries: storage + offset, count: size / 8, bookkeeping: word(forOffset: offset))
  }

  /// The offset of the table at `physicalAddress`; traps naming the contract of
  /// ``TableMemory`` (only tables of this image are passed) otherwise.
  @inline(__always)
  func checkedOffset(_ physicalAddress: UInt64, _ size: Int) -> Int {
    guard let offset = offsetInImage(physicalAddress, size) else {
      fatalError("ImageTableMemory: a table passed to it lies inside the image")
    }
    return offset
  }

  /// The offset of `[physicalAddress, physicalAddress + size)` in the image, or nil
  /// if it is not inside (no arithmetic that can trap).
  @inline(__always)
  func offsetInImage(_ physicalAddress: UInt64, _ size: Int) -> Int? {
    let offset = physicalAddress &- base
    guard
      physicalAddress >= base && size >= 0 && size <= byteCount
        && offset <= UInt64(byteCount &- size)
    else { return nil }
    return Int(offset)
  }
}
