import ArgumentParser
import Foundation
import PageTableImages

/// Runs a subcommand's body and turns its outcome into `pgtable`'s exit codes:
/// 0 ok, 1 findings, 2 usage or input errors (with the message on stderr).
enum Command {
  static func run(_ body: () throws(ImageError) -> Terminal.ExitStatus) throws {
    let status: Terminal.ExitStatus
    do {
      status = try body()
    } catch {
      Terminal.error("\(error)")
      throw ExitCode(Terminal.ExitStatus.usage.rawValue)
    }
    if status != .ok { throw ExitCode(status.rawValue) }
  }

  /// Parses an address option.
  static func address(_ text: String?, _ name: String) throws(ImageError) -> UInt64? {
    guard let text else { return nil }
    guard let value = NumberParsing.address(text) else {
      throw .input("--\(name): \"\(text)\" is not an address")
    }
    return value
  }
}

extension Command {
  /// Parses and runs `root`'s command line; usage errors exit with 2 (not
  /// ArgumentParser's 64), so every subcommand keeps the documented codes.
  static func main<Root: ParsableCommand>(_ root: Root.Type, _ arguments: [String]) -> Never {
    do {
      var command = try root.parseAsRoot(arguments)
      try command.run()
      root.exit()
    } catch {
      guard root.exitCode(for: error) == .validationFailure else { root.exit(withError: error) }
      exit(root, usageError: error)
    }
  }

  /// Prints `error` with the usage text and exits with 2.
  static func exit<Root: ParsableCommand>(_ root: Root.Type, usageError error: any Error) -> Never {
    FileHandle.standardError.write(Data((root.fullMessage(for: error) + "\n").utf8))
    root.exit(withError: ExitCode(Terminal.ExitStatus.usage.rawValue))
  }
}
