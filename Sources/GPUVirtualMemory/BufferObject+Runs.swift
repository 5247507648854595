extension BufferObject {
  /// Calls `body(virtualAddress, chunk, offsetInChunk, length)` for each run of
  /// `va` (backed by this object) that lies inside one chunk, in address order. A
  /// repeated backing wraps at the end of its window.
  func forEachChunkRun(of va: GPUVA, _ body: (UInt64, Int, UInt64, UInt64) -> Void) {
    let backing = va.backing
    var position = va.address
    while position < va.end {
      let offset = backing.offset(after: position - va.address)
      let chunk = Int(offset / chunkSize)
      let inChunk = offset % chunkSize
      var length = min(chunkSize - inChunk, va.end - position)
      if backing.isRepeated {
        length = min(length, backing.repeatBase + backing.repeatRange - offset)
      }
      body(position, chunk, inChunk, length)
      position += length
    }
  }

  /// Calls `body(virtualAddress, physicalAddress, size)` for each physically
  /// contiguous piece of `va` (its chunks must be resident), merging neighbouring
  /// chunks that happen to be adjacent in physical memory.
  func forEachPhysicalSegment(of va: GPUVA, _ body: (UInt64, UInt64, UInt64) -> Void) {
    var segmentVA: UInt64 = 0
    var segmentPA: UInt64 = 0
    var segmentSize: UInt64 = 0
    forEachChunkRun(of: va) { address, chunk, inChunk, length in
      let base = chunks[chunk]
      precondition(base != 0, "BufferObject: a mapped chunk is resident")
      let physical = base + inChunk
      if segmentSize != 0 && segmentPA + segmentSize == physical {
        segmentSize += length
        return
      }
      if segmentSize != 0 { body(segmentVA, segmentPA, segmentSize) }
      segmentVA = address
      segmentPA = physical
      segmentSize = length
    }
    if segmentSize != 0 { body(segmentVA, segmentPA, segmentSize) }
  }

  /// Adds `sign` × the mapped bytes of `va` to the pins of the chunks it maps.
  func pin(_ va: GPUVA, by sign: Int) {
    forEachChunkRun(of: va) { _, chunk, _, length in
      pins[chunk] += sign * Int(length)
      precondition(pins[chunk] >= 0, "BufferObject: pins never go below zero")
    }
  }
}
