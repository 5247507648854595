/// Writes small ELF core files the way QEMU's `dump-guest-memory` lays them out:
/// an ELF header, program headers (a PT_NOTE, then one PT_LOAD per RAM range with
/// the physical address in p_paddr), the notes, then the memory.
struct ELFCoreWriter {
  var machine: UInt16 = 62
  var segments: [(physicalAddress: UInt64, bytes: [UInt8])] = []
  var notes: [(name: String, type: UInt32, description: [UInt8])] = []

  /// A QEMU x86-64 CPU-state note with CR0 (paging on), CR3 and CR4.
  mutating func addQEMUCPUState(cr3: UInt64, cr4: UInt64 = 0) {
    var state = [UInt8](repeating: 0, count: 440)
    state.setWord(1 | UInt64(440) << 32, at: 0)  // version 1, size 440
    state.setWord(0x8000_0011, at: 392)  // CR0: PG | ET | PE
    state.setWord(cr3, at: 416)
    state.setWord(cr4, at: 424)
    notes.append(("QEMU", 0, state))
  }

  static func padded(_ bytes: [UInt8]) -> [UInt8] {
    bytes + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
  }

  func bytes() -> [UInt8] {
    var noteBytes: [UInt8] = []
    for note in notes {
      let name = Array(note.name.utf8) + [0]
      var header = [UInt8](repeating: 0, count: 16)
      header.setWord(UInt64(name.count) | UInt64(note.description.count) << 32, at: 0)
      header.setWord(UInt64(note.type), at: 8)
      header.removeLast(4)
      noteBytes += header + Self.padded(name) + Self.padded(note.description)
    }
    let headerCount = 1 + segments.count
    var offset = 64 + 56 * headerCount
    var file = [UInt8](repeating: 0, count: 64)
    file.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
    file[4] = 2  // 64-bit
    file[5] = 1  // little-endian
    file[6] = 1  // version
    file[16] = 4  // ET_CORE
    file[18] = UInt8(machine & 0xFF)
    file[19] = UInt8(machine >> 8)
    file[20] = 1
    file.setWord(64, at: 32)  // e_phoff
    file[52] = 64  // e_ehsize
    file[54] = 56  // e_phentsize
    file[56] = UInt8(headerCount)
    func programHeader(type: UInt32, offset: Int, physical: UInt64, size: Int) -> [UInt8] {
      var header = [UInt8](repeating: 0, count: 56)
      header.setWord(UInt64(type), at: 0)
      header.setWord(UInt64(offset), at: 8)
      header.setWord(physical, at: 24)
      header.setWord(UInt64(size), at: 32)
      header.setWord(UInt64(size), at: 40)
      return header
    }
    file += programHeader(type: 4, offset: offset, physical: 0, size: noteBytes.count)
    offset += noteBytes.count
    for segment in segments {
      file += programHeader(
        type: 1, offset: offset, physical: segment.physicalAddress, size: segment.bytes.count)
      offset += segment.bytes.count
    }
    file += noteBytes
    for segment in segments { file += segment.bytes }
    return file
  }
}
