import Foundation

/// A machine's physical memory as an input file holds it: segments of physical
/// addresses backed by ranges of the file. Reads outside every segment answer
/// `nil`; nothing here trusts the file.
///
/// ```swift
/// let image = try PhysicalImage(rawFile: url, base: 0x4000_0000)
/// image.word(at: 0x4010_0000)          // the 64-bit entry there, or nil
/// ```
///
/// The file is mapped, not read, so a dump of many GiB costs only the pages the
/// walk touches.
public struct PhysicalImage: @unchecked Sendable {
  /// Physical memory that a range of the file holds.
  public struct Segment: Hashable, Sendable {
    /// The first physical address.
    public var physicalAddress: UInt64
    /// Bytes of physical memory the segment covers.
    public var byteCount: UInt64
    /// Where its bytes start in the file.
    public var fileOffset: UInt64
    /// Bytes of it the file holds (the rest reads as zeros, as in an ELF
    /// segment whose memory size exceeds its file size).
    public var fileByteCount: UInt64

    /// Makes one from its parts.
    public init(
      physicalAddress: UInt64, byteCount: UInt64, fileOffset: UInt64, fileByteCount: UInt64
    ) {
      self.physicalAddress = physicalAddress
      self.byteCount = byteCount
      self.fileOffset = fileOffset
      self.fileByteCount = fileByteCount
    }

    /// Whether the file ends before the bytes the segment claims to hold: the
    /// missing part is absent, not zeros.
    public var truncated = false

    /// One past the last physical address (saturating).
    public var end: UInt64 {
      physicalAddress > UInt64.max - byteCount ? UInt64.max : physicalAddress + byteCount
    }
  }

  /// The file's bytes.
  let data: Data
  /// The segments, sorted by physical address, not overlapping.
  public let segments: [Segment]

  /// Memory from `data` laid out by `segments`. Segments are clipped to the data
  /// and sorted; overlapping parts of later segments are dropped.
  init(data: Data, segments: [Segment]) {
    self.data = data
    var kept: [Segment] = []
    for var segment in segments.sorted(by: { $0.physicalAddress < $1.physicalAddress })
    where segment.byteCount > 0 {
      if let last = kept.last, segment.physicalAddress < last.end {
        let skip = last.end - segment.physicalAddress
        guard skip < segment.byteCount else { continue }
        segment.physicalAddress += skip
        segment.byteCount -= skip
        let fileSkip = min(skip, segment.fileByteCount)
        segment.fileOffset += fileSkip
        segment.fileByteCount -= fileSkip
      }
      let available =
        UInt64(data.count) > segment.fileOffset ? UInt64(data.count) - segment.fileOffset : 0
      if segment.fileByteCount > available {
        segment.fileByteCount = available
        segment.truncated = true
      }
      kept.append(segment)
    }
    self.segments = kept
  }

  /// A raw dump of RAM: the whole file is physical memory from `base`.
  ///
  /// - Throws: ``ImageError/input(_:)`` if the file cannot be read.
  public init(rawFile url: URL, base: UInt64) throws(ImageError) {
    let data = try Self.map(url)
    self.init(
      data: data,
      segments: [
        Segment(
          physicalAddress: base, byteCount: min(UInt64(data.count), UInt64.max - base),
          fileOffset: 0,
          fileByteCount: UInt64(data.count))
      ])
  }

  /// Maps a file's bytes.
  static func map(_ url: URL) throws(ImageError) -> Data {
    do {
      return try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
      throw .input("cannot read \(url.path): \(error.localizedDescription)")
    }
  }

  /// Total bytes of physical memory the segments cover.
  public var byteCount: UInt64 { segments.reduce(0) { $0 &+ $1.byteCount } }

  /// The segment holding `address`, if any.
  func segment(containing address: UInt64) -> Segment? {
    var low = 0
    var high = segments.count
    while low < high {
      let middle = (low + high) / 2
      if segments[middle].end <= address { low = middle + 1 } else { high = middle }
    }
    guard low < segments.count, segments[low].physicalAddress <= address else { return nil }
    return segments[low]
  }

  /// Whether every byte of `[address, address + count)` is present (in the file,
  /// or in a segment's zero-filled tail).
  public func contains(_ address: UInt64, count: UInt64) -> Bool {
    guard count > 0, address <= UInt64.max - (count - 1),
      let segment = segment(containing: address)
    else { return false }
    let offset = address - segment.physicalAddress
    guard offset + (count - 1) < segment.byteCount else { return false }
    return !segment.truncated || offset + count <= segment.fileByteCount
  }

  /// The little-endian 64-bit word at `address`, or `nil` if it is not all in
  /// the image.
  public func word(at address: UInt64) -> UInt64? {
    guard let segment = segment(containing: address), address <= UInt64.max - 7,
      address + 7 < segment.end
    else { return nil }
    let offset = address - segment.physicalAddress
    if offset + 8 <= segment.fileByteCount {
      let start = Int(segment.fileOffset + offset)
      return unsafe data.withUnsafeBytes { bytes in
        // SAFETY: segments are clipped to the data when the image is made, so
        // [start, start + 8) lies inside it; the load allows any alignment.
        UInt64(littleEndian: unsafe bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self))
      }
    }
    guard offset >= segment.fileByteCount, !segment.truncated else { return nil }
    return 0
  }
}
