import Foundation
import PageTableImages
import Testing

/// Reads a PNG that `rsvg-convert` wrote: its size from the IHDR chunk, and pixels
/// through a few lines of Python (its zlib), since Foundation has no inflate.
enum PNGPixels {
  /// Width and height from the IHDR chunk.
  static func size(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
    guard bytes.count > 24, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return nil }
    let big = { (o: Int) in bytes[o..<o + 4].reduce(0) { $0 << 8 | Int($1) } }
    return (big(16), big(20))
  }

  static let script = """
    import sys, zlib, struct
    data = open(sys.argv[1], 'rb').read()
    pos, idat = 8, b''
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR': width, height, depth, ctype = struct.unpack('>IIBB', body[:10])
        if kind == b'IDAT': idat += body
        pos += 12 + length
    channels = {2: 3, 6: 4}[ctype]
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    for point in sys.argv[2:]:
        x, y = map(int, point.split(','))
        px = rows[y][x * channels:x * channels + 3]
        print('%02x%02x%02x' % tuple(px))
    """

  /// The RGB colours at `points` as `rrggbb`.
  static func colors(_ path: String, at points: [(Int, Int)]) throws -> [String] {
    let python = try #require(Tool.find("python3"))
    let outcome = try Tool.run(
      program: python, ["-c", script, path] + points.map { "\($0.0),\($0.1)" })
    return outcome.output.split(separator: "\n").map(String.init)
  }
}
