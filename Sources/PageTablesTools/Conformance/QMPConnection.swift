import Foundation

/// A QEMU Machine Protocol (QMP) session over a QEMU process's standard input and
/// output (`-qmp stdio`): one JSON command a line, answered by a `return` or an
/// `error` object; asynchronous events in between are skipped.
///
/// ```swift
/// let qmp = try QMPConnection(toQEMU: stdin.fileHandleForWriting,
///                             fromQEMU: stdout.fileHandleForReading)
/// try qmp.execute("stop")
/// try qmp.execute("pmemsave", ["val": 0x4000_0000, "size": 4096, "filename": "/tmp/ram"])
/// ```
final class QMPConnection {
  let toQEMU: FileHandle
  let fromQEMU: FileHandle
  var pending: [UInt8] = []

  /// Reads QEMU's greeting and enters command mode (`qmp_capabilities`).
  ///
  /// - Throws: ``GuestDumpError/monitor(_:)`` if QEMU closes the connection or
  ///   answers with an error.
  init(toQEMU: FileHandle, fromQEMU: FileHandle) throws(GuestDumpError) {
    self.toQEMU = toQEMU
    self.fromQEMU = fromQEMU
    let greeting = try readObject()
    guard greeting["QMP"] != nil else {
      throw .monitor("QEMU did not greet with QMP: \(greeting)")
    }
    try execute("qmp_capabilities")
  }

  /// Sends `command` with `arguments` and waits for its answer.
  ///
  /// - Throws: ``GuestDumpError/monitor(_:)`` for an `error` answer or a closed
  ///   connection.
  @discardableResult
  func execute(_ command: String, _ arguments: [String: Any] = [:]) throws(GuestDumpError) -> Any {
    var message: [String: Any] = ["execute": command]
    if !arguments.isEmpty { message["arguments"] = arguments }
    guard let data = try? JSONSerialization.data(withJSONObject: message) else {
      throw .monitor("cannot encode the QMP command \(command)")
    }
    do {
      try toQEMU.write(contentsOf: data + Data("\n".utf8))
    } catch {
      throw .monitor("QEMU closed its QMP input before \(command): \(error)")
    }
    while true {
      let answer = try readObject()
      if let value = answer["return"] { return value }
      if let error = answer["error"] { throw .monitor("\(command): \(error)") }
      // An event ({"event": …}): not the answer.
    }
  }

  /// The next JSON object QEMU writes (one a line).
  func readObject() throws(GuestDumpError) -> [String: Any] {
    while true {
      if let newline = pending.firstIndex(of: 0x0A) {
        let line = Data(pending[..<newline])
        pending.removeSubrange(...newline)
        guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) else { continue }
        guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else {
          throw .monitor(
            "QEMU wrote something that is not QMP: \(String(decoding: line, as: UTF8.self))")
        }
        return object
      }
      let chunk = fromQEMU.availableData
      guard !chunk.isEmpty else { throw .monitor("QEMU closed its QMP output") }
      pending += chunk
    }
  }
}
