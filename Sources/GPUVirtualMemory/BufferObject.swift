/// A buffer object (a GEM object): `size` bytes whose pages come from a
/// ``BackingPageSource`` in chunks, allocated when a bind first needs them and
/// pinned while any VA maps them.
///
/// ```swift
/// let device = try GPUDevice(pageSource: PhysicalPageSource(ram))
/// let object = try device.makeObject(size: 0x10000)          // no pages yet
/// object.residentChunkCount                                   // 0
/// ```
///
/// Chunks are `chunkSize` bytes each (a power of two; one page of the source by
/// default), physically contiguous inside, usually not contiguous with each
/// other, as shmem pages are. Ask for 2 MiB chunks to let a format map blocks.
///
/// ## Invariants
/// - `pins[i]` counts the GPU pages of VAs (in every VM) mapping chunk `i`; a
///   pinned chunk is resident.
/// - A chunk is freed only while unpinned (eviction, or the object's end).
public final class BufferObject {
  /// The object's identity in its device.
  public let id: BufferObjectID
  /// Its size in bytes (a multiple of ``chunkSize``).
  public let size: UInt64
  /// Bytes per chunk.
  public let chunkSize: UInt64
  let source: any BackingPageSource
  let chunkOrder: Int
  /// Physical address of each chunk, 0 where none is allocated.
  var chunks: [UInt64]
  /// Pins per chunk (GPU pages mapping it).
  var pins: [Int]
  /// The VMs that hold a link to this object (by VM id).
  var linkedVMs: [UInt32] = []
  /// Whether the object's pages were taken away (``GPUDevice/evict(_:)``).
  public internal(set) var isEvicted = false
  /// The bytes of chunks saved while evicted (swap), by chunk index.
  var swapped: [Int: [UInt8]] = [:]

  init(id: BufferObjectID, size: UInt64, chunkSize: UInt64, source: any BackingPageSource) {
    self.id = id
    self.size = size
    self.chunkSize = chunkSize
    self.source = source
    self.chunkOrder = (chunkSize / source.pageSize).trailingZeroBitCount
    let count = Int(size / chunkSize)
    self.chunks = Array(repeating: 0, count: count)
    self.pins = Array(repeating: 0, count: count)
  }

  deinit {
    // No VM maps the object any more (a link holds it), so nothing is pinned.
    releaseUnpinnedChunks()
  }

  /// How many chunks have pages.
  public var residentChunkCount: Int { chunks.count { $0 != 0 } }
  /// The pin count of the chunk holding object byte `offset`.
  public func pinCount(at offset: UInt64) -> Int { pins[Int(offset / chunkSize)] }
  /// Total pins over every chunk.
  public var totalPins: Int { pins.reduce(0, +) }
  /// The VMs (by id) that map this object.
  public var mappingVMs: [UInt32] { linkedVMs }

  /// The physical address of object byte `offset`, if its chunk is resident.
  public func physicalAddress(at offset: UInt64) -> UInt64? {
    let chunk = chunks[Int(offset / chunkSize)]
    return chunk == 0 ? nil : chunk + offset % chunkSize
  }

  /// The chunk indices `[first, last]` covering object bytes `[offset, offset + range)`.
  func chunkRange(offset: UInt64, range: UInt64) -> ClosedRange<Int> {
    Int(offset / chunkSize)...Int((offset + range - 1) / chunkSize)
  }

  /// Frees every unpinned resident chunk (the object's end, or eviction).
  func releaseUnpinnedChunks() {
    for i in chunks.indices where chunks[i] != 0 && pins[i] == 0 {
      source.freeBlock(at: chunks[i], order: chunkOrder)
      chunks[i] = 0
    }
  }
}
