// Page allocator benchmarks: the order-0 allocate/free pair (one and two threads),
// larger blocks, and malloc(4096)/free as the yardstick.
import Benchmark
import PhysicalPages
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Runs `body` on `count` POSIX threads and waits for them.
private func onThreads(_ count: Int, _ body: @escaping @Sendable () -> Void) {
  final class Job: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
  }
  var threads: [pthread_t] = []
  for _ in 0..<count {
    let job = unsafe Unmanaged.passRetained(Job(body)).toOpaque()
    var thread = pthread_t()
    _ = unsafe pthread_create(
      &thread, nil,
      { raw in
        // SAFETY: `raw` is the retained Job passed below, released exactly once here.
        unsafe Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
      }, job)
    threads.append(thread)
  }
  for thread in threads { pthread_join(thread, nil) }
}

let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .mallocCountTotal],
    scalingFactor: .kilo,
    maxDuration: .seconds(2),
    maxIterations: 1_000_000
  )

  let memory = try! PhysicalMemory()

  Benchmark(
    "create a default machine (64 MiB)",
    configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .one)
  ) { benchmark in
    for _ in benchmark.scaledIterations { blackHole(try! PhysicalMemory()) }
  }

  Benchmark(
    "create a 64 GiB machine",
    configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .one)
  ) { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(try! PhysicalMemory(configuration: .init(byteCount: 64 << 30)))
    }
  }

  Benchmark("order-0 allocate+free pair") { benchmark in
    for _ in benchmark.scaledIterations {
      let page = try! memory.allocatePage()
      blackHole(page.frameNumber)
    }
  }

  Benchmark("malloc(4096)+free pair") { benchmark in
    for _ in benchmark.scaledIterations {
      let pointer = malloc(4096)
      blackHole(pointer)
      free(pointer)
    }
  }

  Benchmark("order-0 allocate+free pair, 2 threads (per thread)") { benchmark in
    let iterations = benchmark.scaledIterations.count
    benchmark.startMeasurement()
    onThreads(2) {
      for _ in 0..<iterations {
        let page = try! memory.allocatePage()
        blackHole(page.frameNumber)
      }
    }
    benchmark.stopMeasurement()
  }

  Benchmark("malloc(4096)+free pair, 2 threads (per thread)") { benchmark in
    let iterations = benchmark.scaledIterations.count
    benchmark.startMeasurement()
    onThreads(2) {
      for _ in 0..<iterations {
        let pointer = malloc(4096)
        blackHole(pointer)
        free(pointer)
      }
    }
    benchmark.stopMeasurement()
  }

  Benchmark("order-2 allocate+free pair") { benchmark in
    for _ in benchmark.scaledIterations {
      let block = try! memory.allocatePages(order: 2)
      blackHole(block.frameNumber)
    }
  }

  Benchmark("order-0 burst: 256 allocations, then 256 frees") { benchmark in
    // Past the thread cache's capacity both ways: exercises its batched refill and
    // drain. The pages are parked as physical addresses (a Page can't go in an Array).
    var addresses: [PhysicalAddress] = []
    addresses.reserveCapacity(256)
    for _ in benchmark.scaledIterations {
      for _ in 0..<256 { addresses.append(try! memory.allocatePage().intoPhysicalAddress()) }
      for address in addresses {
        _ = unsafe Page(uncheckedFromPhysicalAddress: address, in: memory)
      }
      addresses.removeAll(keepingCapacity: true)
    }
  }

  Benchmark("order-9 allocate+free pair") { benchmark in
    for _ in benchmark.scaledIterations {
      let block = try! memory.allocatePages(order: 9)
      blackHole(block.frameNumber)
    }
  }
}
