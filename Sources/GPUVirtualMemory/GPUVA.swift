import PageTables

/// The identity of a buffer object (a GEM object) inside the GPU VM layer.
///
/// ```swift
/// let id = BufferObjectID(7)
/// ```
public struct BufferObjectID: Hashable, Comparable, Sendable {
  /// The number.
  public var rawValue: UInt32
  /// Wraps a number.
  public init(_ rawValue: UInt32) { self.rawValue = rawValue }
  /// Orders by number.
  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// What backs a VA: nothing (a sparse range), a range of an object, or an object
/// range repeated over the whole VA (Asahi's `one_page` binds and the
/// `DRM_GPUVA_REPEAT` proposal).
///
/// ```swift
/// let plain = VABacking.object(BufferObjectID(1), offset: 0x4000)
/// let scratch = VABacking.repeated(BufferObjectID(2), offset: 0, range: 0x4000)
/// plain.offset(after: 0x8000)    // 0xc000
/// scratch.offset(after: 0x8000)  // 0: the same page again
/// ```
///
/// A repeated backing maps object bytes `[base, base + repeatRange)` over and
/// over; `offset` is where in that window the VA's first byte lands (its phase).
/// The proposal (`drm/gpuvm: Add DRM_GPUVA_REPEAT flag and logic`, not merged)
/// keeps `gem.offset` unchanged for every split piece, which shifts the pattern
/// when a split point is not a multiple of the repeated range; here a piece
/// carries its phase, so the pattern of every page stays where it was.
public struct VABacking: Hashable, Sendable {
  /// The object, or nil for a sparse VA that maps nothing (`gem.obj == NULL`).
  public var object: BufferObjectID?
  /// The object offset of the VA's first byte.
  public var offset: UInt64
  /// The length of the repeated object window, or 0 for a plain mapping.
  public var repeatRange: UInt64
  /// The first object byte of the repeated window (unused for a plain mapping).
  public var repeatBase: UInt64

  /// A sparse VA: no object, nothing mapped.
  public static var sparse: VABacking {
    VABacking(object: nil, offset: 0, repeatRange: 0, repeatBase: 0)
  }

  /// `object`'s bytes from `offset`, in order.
  public static func object(_ object: BufferObjectID, offset: UInt64) -> VABacking {
    VABacking(object: object, offset: offset, repeatRange: 0, repeatBase: 0)
  }

  /// `object`'s bytes `[offset, offset + range)` repeated over the VA.
  public static func repeated(_ object: BufferObjectID, offset: UInt64, range: UInt64) -> VABacking
  {
    VABacking(object: object, offset: offset, repeatRange: range, repeatBase: offset)
  }

  /// Whether the backing repeats an object window.
  public var isRepeated: Bool { repeatRange != 0 }

  /// The object offset backing the VA byte `delta` bytes after the VA's start.
  public func offset(after delta: UInt64) -> UInt64 {
    guard repeatRange != 0 else { return offset &+ delta }
    return repeatBase &+ (offset &- repeatBase &+ delta % repeatRange) % repeatRange
  }

  /// The backing of the piece that starts `delta` bytes after the VA's start.
  public func advanced(by delta: UInt64) -> VABacking {
    var piece = self
    piece.offset = offset(after: delta)
    return piece
  }
}

/// One GPU virtual mapping (a `drm_gpuva`): `[address, address + range)` backed
/// by ``backing`` with ``protection``.
///
/// ```swift
/// let va = GPUVA(address: 0x10_0000, range: 0x8000,
///                backing: .object(BufferObjectID(1), offset: 0), protection: .readWrite)
/// va.end  // 0x10_8000
/// ```
public struct GPUVA: Hashable, Sendable, CustomStringConvertible {
  /// The first virtual address.
  public var address: UInt64
  /// The length in bytes.
  public var range: UInt64
  /// What backs it.
  public var backing: VABacking
  /// What the GPU may do through it (the PTEs' permissions).
  public var protection: Protection
  /// Set while the backing object is evicted (`DRM_GPUVA_INVALIDATED`): the VA is
  /// kept, its page-table entries are gone until the object is revalidated.
  public var isEvicted: Bool

  /// A VA.
  public init(
    address: UInt64, range: UInt64, backing: VABacking, protection: Protection = .readWrite,
    isEvicted: Bool = false
  ) {
    self.address = address
    self.range = range
    self.backing = backing
    self.protection = protection
    self.isEvicted = isEvicted
  }

  /// The first address after the VA.
  public var end: UInt64 { address &+ range }

  /// The piece `[from, to)` of this VA (which must lie inside it), with its backing
  /// offset moved along.
  public func slice(from: UInt64, to: UInt64) -> GPUVA {
    precondition(
      from >= address && to <= end && from < to, "GPUVA.slice: the piece lies inside the VA")
    var piece = self
    piece.address = from
    piece.range = to &- from
    piece.backing = backing.advanced(by: from &- address)
    return piece
  }

  /// `[0x…, +0x…) object n @0x…` for logs and test failures.
  public var description: String {
    var text = "[0x\(hex(address)), +0x\(hex(range)))"
    if let object = backing.object {
      text += " bo\(object.rawValue)@0x\(hex(backing.offset))"
      if backing.isRepeated {
        text += " repeat 0x\(hex(backing.repeatRange)) from 0x\(hex(backing.repeatBase))"
      }
    } else {
      text += " sparse@0x\(hex(backing.offset))"
    }
    if protection != .readWrite {
      let p = protection
      text += " " + (p.read ? "r" : "-") + (p.write ? "w" : "-") + (p.execute ? "x" : "-")
      if p.user { text += " user" }
    }
    if isEvicted { text += " evicted" }
    return text
  }
}
