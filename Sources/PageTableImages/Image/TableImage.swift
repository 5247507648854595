/// A table image: the bytes of a tree of page tables, the physical address they
/// are loaded at, the root table(s) and the format — what `pgtable build` writes
/// and `pgtable dump` reads.
///
/// ```swift
/// let image = try TableBuilder.build(spec)
/// try Data(image.serialized()).write(to: url)       // header + table bytes
/// let back = try TableImage(parsing: Array(Data(contentsOf: url)))
/// ```
///
/// The file is a 4 KiB header followed by the table bytes, so the bytes to load
/// at ``base`` start at file offset 4096 (`dd bs=4096 skip=1`). The header:
/// the magic `PGTIMAGE`, version 1 (u32), header size (u32), base (u64), byte
/// count (u64), root count (u32), format text length (u32), four root addresses
/// (u64 each), then the ``FormatDescriptor`` text; all little-endian, zero padded.
public struct TableImage: Hashable, Sendable {
  /// The format the tables are in.
  public var format: FormatDescriptor
  /// The physical address of ``bytes``' first byte.
  public var base: UInt64
  /// The root tables' physical addresses (one, or up to four for Apple DART).
  public var roots: [UInt64]
  /// The tables, as they are loaded at ``base``.
  public var bytes: [UInt8]

  /// Makes one from its parts.
  public init(format: FormatDescriptor, base: UInt64, roots: [UInt64], bytes: [UInt8]) {
    self.format = format
    self.base = base
    self.roots = roots
    self.bytes = bytes
  }

  /// The file's first eight bytes.
  public static let magic: [UInt8] = Array("PGTIMAGE".utf8)
  /// Bytes of header before the tables.
  public static var headerBytes: Int { 4096 }

  /// The image file: header, then the tables.
  public func serialized() -> [UInt8] {
    var header = ByteWriter()
    header.append(Self.magic)
    header.append32(1)
    header.append32(UInt32(Self.headerBytes))
    header.append64(base)
    header.append64(UInt64(bytes.count))
    header.append32(UInt32(roots.count))
    let text = Array(format.text.utf8)
    header.append32(UInt32(text.count))
    for index in 0..<4 { header.append64(index < roots.count ? roots[index] : 0) }
    header.append(text)
    var file = header.bytes
    file.append(contentsOf: repeatElement(0, count: Self.headerBytes - file.count))
    file.append(contentsOf: bytes)
    return file
  }

  /// Whether `prefix` starts like an image file.
  public static func isImage(_ prefix: some Collection<UInt8>) -> Bool {
    prefix.starts(with: magic)
  }

  /// The image in a file's bytes.
  ///
  /// - Throws: ``ImageError/input(_:)`` for a file that is not an image, is
  ///   truncated, or whose header contradicts itself.
  public init(parsing file: [UInt8]) throws(ImageError) {
    let header = try ImageHeader(file)
    let end = Self.headerBytes + Int(header.byteCount)
    guard file.count >= end else {
      throw .input(
        "the image is truncated: the header promises \(header.byteCount) bytes of tables, the file has \(max(0, file.count - Self.headerBytes))"
      )
    }
    self.init(
      format: header.format, base: header.base, roots: header.roots,
      bytes: Array(file[Self.headerBytes..<end]))
  }
}

/// The decoded header of an image file.
struct ImageHeader {
  var format: FormatDescriptor
  var base: UInt64
  var byteCount: UInt64
  var roots: [UInt64]

  init(_ file: some RandomAccessCollection<UInt8>) throws(ImageError) {
    let reader = ByteReader(file)
    guard TableImage.isImage(file) else { throw .input("not a table image (no PGTIMAGE magic)") }
    guard file.count >= TableImage.headerBytes else {
      throw .input("the image is truncated inside its \(TableImage.headerBytes)-byte header")
    }
    guard reader.u32(8) == 1, reader.u32(12) == UInt32(TableImage.headerBytes) else {
      throw .input("unsupported image version \(reader.u32(8) ?? 0)")
    }
    let rootCount = Int(reader.u32(32) ?? 0)
    let textCount = Int(reader.u32(36) ?? 0)
    guard (1...4).contains(rootCount) else {
      throw .input("the image header claims \(rootCount) roots (1 to 4 allowed)")
    }
    guard textCount <= TableImage.headerBytes - 72 else {
      throw .input("the image header claims a \(textCount)-byte format name")
    }
    let text = String(decoding: reader.bytes(72, textCount), as: UTF8.self)
    do {
      format = try FormatDescriptor(parsing: text)
    } catch {
      throw .input("the image header names a bad format: \(error)")
    }
    base = reader.u64(16) ?? 0
    byteCount = reader.u64(24) ?? 0
    roots = (0..<rootCount).map { reader.u64(40 + 8 * $0) ?? 0 }
  }
}
