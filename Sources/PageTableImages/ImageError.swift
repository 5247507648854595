/// Why a spec, an image or a dump could not be read, built or walked.
///
/// ```swift
/// do { _ = try MappingSpec.parse(text, name: "boot.yaml") } catch {
///   print(error)   // boot.yaml:7: regions[1].size: not a size: "2X"
/// }
/// ```
///
/// Problems *inside* the tables of a readable input (a pointer out of the image, a
/// loop, a reserved encoding) are not errors: they are ``Finding``s, and the walk
/// goes on.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The mapping spec is wrong at `line` (1-based; 0 when unknown) in `field`
  /// (a path such as `regions[2].protection`).
  case spec(file: String, line: Int, field: String, message: String)
  /// A format name or configuration that does not describe a format.
  case format(String)
  /// An input that cannot be read or is not what it claims to be.
  case input(String)
  /// The tables could not be built as the spec asks.
  case build(String)

  public var description: String {
    switch self {
    case .spec(let file, let line, let field, let message):
      line > 0 ? "\(file):\(line): \(field): \(message)" : "\(file): \(field): \(message)"
    case .format(let message): "format: \(message)"
    case .input(let message): "input: \(message)"
    case .build(let message): "build: \(message)"
    }
  }
}
