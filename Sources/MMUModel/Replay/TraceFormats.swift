import PageTables

/// The formats a trace header may name, each with a fixed configuration.
enum TraceFormats {
  /// Every name, in the order help text lists them.
  static let names = [
    "arm64-4k", "arm64-16k", "arm64-64k", "x86-64-4", "x86-64-5", "riscv-sv39", "riscv-sv48",
    "riscv-sv57", "uat-user", "uat-kernel", "dart1-4k", "dart2-16k",
  ]

  /// Runs `body` with the format called `name`; nil if there is none.
  static func with<Result>(
    _ name: String, _ body: some FormatVisitor<Result>
  ) throws(TraceError) -> Result? {
    do {
      switch name {
      case "arm64-4k": return try body.visit(try ARM64Format(granule: .k4, inputBits: 48))
      case "arm64-16k": return try body.visit(try ARM64Format(granule: .k16, inputBits: 48))
      case "arm64-64k": return try body.visit(try ARM64Format(granule: .k64, inputBits: 48))
      case "x86-64-4": return try body.visit(try X86_64Format(levels: 4))
      case "x86-64-5": return try body.visit(try X86_64Format(levels: 5))
      case "riscv-sv39": return try body.visit(RISCVFormat(.sv39))
      case "riscv-sv48": return try body.visit(RISCVFormat(.sv48))
      case "riscv-sv57": return try body.visit(RISCVFormat(.sv57))
      case "uat-user":
        return try body.visit(try AppleUATFormat(addressSpace: .user, outputBits: 40))
      case "uat-kernel":
        return try body.visit(try AppleUATFormat(addressSpace: .kernel, outputBits: 40))
      case "dart1-4k":
        return try body.visit(try AppleDARTFormat(version: .dart1, granule: .k4, inputBits: 36))
      case "dart2-16k":
        return try body.visit(try AppleDARTFormat(version: .dart2, granule: .k16, inputBits: 42))
      default: return nil
      }
    } catch let error as TraceError {
      throw error
    } catch let error as MMUConfigurationError {
      fatalError("TraceFormats: the default MMU configuration is invalid: \(error)")
    } catch {
      // The configurations above are valid; a format refusing one is a bug here.
      fatalError("TraceFormats: \(name) is not a valid configuration: \(error)")
    }
  }
}

/// Something to do with a format chosen at run time (a generic body).
protocol FormatVisitor<Result> {
  associatedtype Result
  func visit<Format: PageTableFormat>(_ format: Format) throws -> Result
}
