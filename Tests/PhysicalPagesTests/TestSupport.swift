import Synchronization

@testable import PhysicalPages

#if canImport(Glibc)
  import Glibc
#endif

/// A small machine for tests: `pages` pages of `pageSize` bytes.
func makeMemory(
  pages: Int = 4096, pageSize: Int = 4096, poison: Bool = false, sites: Bool = false,
  vmallocPages: Int = 1024
) throws -> PhysicalMemory {
  try PhysicalMemory(
    configuration: .init(
      byteCount: pages * pageSize, pageSize: pageSize,
      vmallocAreaByteCount: vmallocPages * pageSize, poisonFreedPages: poison,
      recordAllocationSites: sites))
}

/// Runs `body(i)` on `count` fresh POSIX threads and joins them (so their
/// thread-exit destructors have run when this returns).
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
  final class Job: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
  }
  var threads: [pthread_t] = []
  for index in 0..<count {
    let job = unsafe Unmanaged.passRetained(Job { body(index) }).toOpaque()
    var thread = pthread_t()
    let result = unsafe pthread_create(
      &thread, nil,
      { raw in
        // SAFETY: `raw` is the retained Job passed below, released exactly once here.
        unsafe Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
      }, job)
    precondition(result == 0)
    threads.append(thread)
  }
  for thread in threads { pthread_join(thread, nil) }
}

/// The process's resident set size in bytes (from /proc/self/statm).
func residentBytes() -> Int {
  let fd = unsafe open("/proc/self/statm", O_RDONLY)
  guard fd >= 0 else { return -1 }
  defer { close(fd) }
  var buffer = [UInt8](repeating: 0, count: 256)
  let count = unsafe buffer.withUnsafeMutableBytes { unsafe read(fd, $0.baseAddress, 255) }
  guard count > 0 else { return -1 }
  let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
  return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}
