import PageTables

extension BufferObject {
  /// The run of `va` (backed by this object) that starts at `position` and lies
  /// inside one chunk: (chunk, offset in the chunk, length). A repeated backing
  /// wraps at the end of its window.
  func chunkRun(of va: GPUVA, at position: UInt64) -> (chunk: Int, inChunk: UInt64, length: UInt64)
  {
    let backing = va.backing
    let offset = backing.offset(after: position - va.address)
    let inChunk = offset % chunkSize
    var length = min(chunkSize - inChunk, va.end - position)
    if backing.isRepeated {
      length = min(length, backing.repeatBase + backing.repeatRange - offset)
    }
    return (Int(offset / chunkSize), inChunk, length)
  }

  /// Calls `body(virtualAddress, chunk, offsetInChunk, length)` for each run of
  /// `va` that lies inside one chunk, in address order.
  func forEachChunkRun(of va: GPUVA, _ body: (UInt64, Int, UInt64, UInt64) -> Void) {
    var position = va.address
    while position < va.end {
      let run = chunkRun(of: va, at: position)
      body(position, run.chunk, run.inChunk, run.length)
      position += run.length
    }
  }

  /// Calls `body(virtualAddress, physicalAddress, size)` for each physically
  /// contiguous piece of `va` (its chunks must be resident).
  func forEachPhysicalSegment(of va: GPUVA, _ body: (UInt64, UInt64, UInt64) -> Void) {
    let segments = ObjectSegments(object: self, va: va)
    var index = segments.startIndex
    while index != segments.endIndex {
      let segment = segments.segment(at: index.position)
      body(index.position, segment.physicalAddress, segment.size)
      index.position += segment.size
    }
  }

  /// Adds `sign` × the mapped bytes of `va` to the pins of the chunks it maps.
  func pin(_ va: GPUVA, by sign: Int) {
    forEachChunkRun(of: va) { _, chunk, _, length in
      pins[chunk] += sign * Int(length)
      precondition(pins[chunk] >= 0, "BufferObject: pins never go below zero")
    }
  }
}

/// The physically contiguous segments of a VA backed by an object, computed as
/// they are visited (neighbouring chunks that happen to be adjacent in physical
/// memory merge): what the engine's scatter-gather `map` takes, without building
/// a list, so a commit allocates nothing.
struct ObjectSegments: Collection {
  /// A segment's first virtual address.
  struct Index: Comparable {
    var position: UInt64
    static func < (a: Index, b: Index) -> Bool { a.position < b.position }
  }

  let object: BufferObject
  let va: GPUVA

  var startIndex: Index { Index(position: va.address) }
  var endIndex: Index { Index(position: va.end) }

  subscript(index: Index) -> PhysicalSegment { segment(at: index.position) }

  func index(after index: Index) -> Index {
    Index(position: index.position + segment(at: index.position).size)
  }

  /// The segment starting at `position`: chunk runs merged while physically adjacent.
  func segment(at position: UInt64) -> PhysicalSegment {
    var run = object.chunkRun(of: va, at: position)
    let start = object.chunks[run.chunk]
    precondition(start != 0, "BufferObject: a mapped chunk is resident")
    let physical = start + run.inChunk
    var size = run.length
    while position + size < va.end {
      run = object.chunkRun(of: va, at: position + size)
      let next = object.chunks[run.chunk]
      guard next != 0, next + run.inChunk == physical + size else { break }
      size += run.length
    }
    return PhysicalSegment(physicalAddress: physical, size: size)
  }
}
