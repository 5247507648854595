import ArgumentParser
import PageTableImages

/// What an input's header or notes may not say: its format, root and base.
struct TableOptions: ParsableArguments {
  @Option(help: "The format, e.g. x86-64, arm64:granule=16k,inputBits=47, sv39, dart:version=2.")
  var format: String?

  @Option(help: "The root table's physical address.")
  var root: String?

  @Option(help: "Physical address of a raw file's first byte (default 0).")
  var base: String?

  /// Opens `path` with these options.
  func open(_ path: String) throws(ImageError) -> DumpSource {
    try DumpSource.open(
      path: path,
      format: format.map { text throws(ImageError) in try FormatDescriptor(parsing: text) },
      root: Command.address(root, "root"), base: Command.address(base, "base"))
  }

  /// Walks `source`, showing progress as `reporter` does.
  func walk(_ source: DumpSource, _ reporter: ProgressReporter) throws(ImageError) -> WalkResult {
    let result = try TableWalker(source).walk { reporter.report($0.line) }
    reporter.finish()
    return result
  }
}
