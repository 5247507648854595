import FuzzInput
import PageTableImages

/// libFuzzer entry point: the input, as text, is parsed as a mapping spec (JSON or
/// YAML); a spec that parses is built into a table image, which is parsed back.
/// Any text must give a spec or an `ImageError`; a trap is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMappingSpec(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
  // SAFETY: libFuzzer passes `count` readable bytes at `data`.
  let input = unsafe FuzzInput(data, count)
  let text = String(decoding: input.rest, as: UTF8.self)
  _ = try? FormatDescriptor(parsing: String(text.prefix(64)))
  guard let spec = try? MappingSpec.parse(text, name: "fuzz") else { return 0 }
  guard let image = try? TableBuilder.build(spec) else { return 0 }
  guard let back = try? TableImage(parsing: image.serialized()), back == image else {
    fatalError("a built image does not parse back to itself")
  }
  return 0
}
