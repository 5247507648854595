import Foundation
import FuzzInput
import PageTableImages

/// libFuzzer entry point: the input is a file for `pgtable dump` (a table image,
/// an ELF core, or raw memory: the first bytes choose the format, root and base
/// given for raw memory) and is read and walked as the command would. Any bytes
/// must give a walk result or an `ImageError`; a trap is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDumpReaders(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
  // SAFETY: libFuzzer passes `count` readable bytes at `data`.
  var input = unsafe FuzzInput(data, count)
  let format = try? FormatDescriptor(
    parsing: input.pick([
      "arm64", "x86-64", "sv39", "sv48", "sv57", "uat", "dart", "x86-64:levels=5",
    ]))
  let root = input.flag() ? input.number(bytes: 2) << 12 : nil
  let base = input.flag() ? input.number(bytes: 8) : nil
  let bytes = Array(input.rest)
  _ = try? TableImage(parsing: bytes)
  _ = try? ELFCore(data: Data(bytes))
  let path = DumpFile.path
  guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return 0 }
  guard let source = try? DumpSource.open(path: path, format: format, root: root, base: base) else {
    return 0
  }
  guard let walker = try? TableWalker(source) else { return 0 }
  _ = walker.walk()
  return 0
}

/// The scratch file each input is written to (one per process).
enum DumpFile {
  static let path = NSTemporaryDirectory() + "FuzzDumpReaders-\(getpid()).bin"
}
