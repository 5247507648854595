import Foundation
import PageTables

/// Runs processes (QEMU, the guest build script) with a time limit.
enum ProcessRunner {
  /// The full path of `name` on `PATH`, or nil.
  static func find(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
      let candidate = "\(directory)/\(name)"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
  }

  struct Outcome {
    var status: Int32
    var timedOut: Bool
    /// What the process wrote to stdout and stderr.
    var output: String
  }

  /// Runs `executable` with `arguments`, no input, output collected; kills it after
  /// `timeout` seconds.
  static func run(
    _ executable: String, _ arguments: [String], timeout: TimeInterval,
    currentDirectory: URL? = nil
  ) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    process.standardInput = FileHandle.nullDevice
    let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent(
      "pgtable-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outputFile) }
    let handle = try FileHandle(forWritingTo: outputFile)
    defer { try? handle.close() }
    process.standardOutput = handle
    process.standardError = handle
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    try process.run()
    var timedOut = false
    if finished.wait(timeout: .now() + timeout) == .timedOut {
      timedOut = true
      process.terminate()
      if finished.wait(timeout: .now() + 5) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        finished.wait()
      }
    }
    let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    return Outcome(status: process.terminationStatus, timedOut: timedOut, output: output)
  }
}
