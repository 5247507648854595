// GPU virtual-memory benchmarks: planning a bind against a VM holding 10^5 VAs,
// bind+unbind of a 64 KiB and a 2 MiB object (plan, prepare, commit, complete:
// the whole VM_BIND path), a commit alone (with its malloc count), and tearing
// down a VM of 1,000 VAs.
//
// Run: cd Benchmarks && swift package benchmark --target GPUVirtualMemoryBenchmarks
// "ns/request" is wall time in nanoseconds per request (a bind and an unbind are
// two requests; a teardown figure is per VA).
import Benchmark
import GPUVirtualMemory
import PageTables
import PhysicalPageTables
import PhysicalPages

/// A GPU TLB that issues nothing (no hardware behind it).
final class QuietTLB: GPUTLB {
  func invalidate(asid: Int, start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {}
  func invalidateASID(_ asid: Int) {}
}

let nsPerRequest = BenchmarkMetric.custom(
  "ns/request", polarity: .prefersSmaller, useScalingFactor: false)

/// Runs `body` `repeats` times per iteration (one clock reading for the batch) and
/// records nanoseconds per request, `requests` requests per call.
func perRequest(_ benchmark: Benchmark, repeats: Int, requests: Int = 1, _ body: () -> Void) {
  let clock = ContinuousClock()
  for _ in benchmark.scaledIterations {
    let elapsed = clock.measure {
      for _ in 0..<repeats { body() }
    }
    let attoseconds =
      elapsed.components.seconds * 1_000_000_000_000_000_000
      + elapsed.components.attoseconds
    benchmark.measurement(
      nsPerRequest, Int(attoseconds / 1_000_000_000 / Int64(repeats * requests)))
  }
}

/// A 16 KiB-page machine, a device and a UAT VM in a context slot.
func uatVM(cachedTables: Int = 16) -> (
  PhysicalMemory, GPUDevice, GPUVM<AppleUATFormat, PhysicalPageTableMemory>
) {
  let ram = try! PhysicalMemory(configuration: .init(byteCount: 256 << 20, pageSize: 16384))
  let device = try! GPUDevice(pageSource: PhysicalPageSource(ram), tlb: QuietTLB())
  let vm = try! GPUVM(
    device: device, format: AppleUATFormat(), tableMemory: PhysicalPageTableMemory(ram),
    cachedTables: cachedTables)
  try! vm.bindToContext()
  return (ram, device, vm)
}

/// Plans, 1,000 times per iteration, a one-page map against a space holding
/// 100,000 one-page VAs at every other page: over VA i (`pageAfterVA` 0) or into
/// the hole after it (1), for i spread over the space.
func planAgainst100kVAs(_ benchmark: Benchmark, pageAfterVA: UInt64) {
  let page: UInt64 = 0x4000
  var space = try! GPUVASpace(start: page, range: (1 << 39) - page, pageSize: page)
  let object = BufferObjectID(1)
  for i in 0..<100_000 as Range<UInt64> {
    try! space.insert(
      GPUVA(address: (2 * i + 1) * page, range: page, backing: .object(object, offset: 0)))
  }
  var i: UInt64 = 0
  perRequest(benchmark, repeats: 1000) {
    i = (i &+ 7919) % 100_000
    blackHole(
      try! space.planMap(
        MapRequest(
          address: (2 * i + 1 + pageAfterVA) * page, range: page,
          backing: .object(object, offset: 0))))
  }
}

/// Binds all of `object` at `address` and unbinds it again, `repeats` pairs per
/// iteration (two requests each), then tears the VM down.
func bindAndUnbind<Format, Base>(
  _ benchmark: Benchmark, _ vm: GPUVM<Format, Base>, _ object: BufferObject, at address: UInt64,
  repeats: Int
) {
  perRequest(benchmark, repeats: repeats, requests: 2) {
    try! vm.bind(object, at: address, range: object.size)
    try! vm.unbind(at: address, range: object.size)
  }
  blackHole(vm.tearDown())
}

let benchmarks: @Sendable () -> Void = {
  let metrics: [BenchmarkMetric] = [.wallClock, nsPerRequest, .mallocCountTotal]
  Benchmark.defaultConfiguration = .init(
    metrics: metrics, scalingFactor: .one, maxDuration: .seconds(2), maxIterations: 10_000)

  // Planning: a VM holding 100,000 one-page VAs (every other page), planning a map
  // into a hole and over an existing VA (an unmap with keep and a map).
  Benchmark("plan a bind against 100,000 VAs") { benchmark in
    planAgainst100kVAs(benchmark, pageAfterVA: 1)
  }
  Benchmark("plan a bind over an existing VA, 100,000 VAs") { benchmark in
    planAgainst100kVAs(benchmark, pageAfterVA: 0)
  }

  // The whole VM_BIND path for a 64 KiB object (4 UAT pages), bind then unbind.
  Benchmark("bind+unbind a 64 KiB object (UAT, per request)") { benchmark in
    let (_, device, vm) = uatVM()
    bindAndUnbind(benchmark, vm, try! device.makeObject(size: 0x10000), at: 0x10_0000, repeats: 200)
  }

  Benchmark("bind+unbind a 64 KiB object in a VM of 1,000 VAs (UAT, per request)") { benchmark in
    let (_, device, vm) = uatVM()
    let small = try! device.makeObject(size: 0x4000)
    for i in 0..<1000 as Range<UInt64> {
      try! vm.bind(small, at: 0x1_0000_0000 + i * 0x8000, range: 0x4000)
    }
    bindAndUnbind(benchmark, vm, try! device.makeObject(size: 0x10000), at: 0x10_0000, repeats: 200)
  }

  // A 2 MiB object: 128 UAT pages, and on ARM64 4K one 2 MiB block.
  Benchmark("bind+unbind a 2 MiB object (UAT, 128 pages, per request)") { benchmark in
    let (_, device, vm) = uatVM()
    bindAndUnbind(benchmark, vm, try! device.makeObject(size: 2 << 20), at: 0x100_0000, repeats: 20)
  }

  Benchmark("bind+unbind a 2 MiB object (ARM64 4K, one block, per request)") { benchmark in
    let ram = try! PhysicalMemory(configuration: .init(byteCount: 64 << 20))
    let device = try GPUDevice(pageSource: PhysicalPageSource(ram), tlb: QuietTLB())
    let vm = try! GPUVM(
      device: device, format: ARM64Format(granule: .k4, inputBits: 48),
      tableMemory: PhysicalPageTableMemory(ram))
    try! vm.bindToContext()
    bindAndUnbind(
      benchmark, vm, try! device.makeObject(size: 2 << 20, chunkSize: 2 << 20), at: 0x4000_0000,
      repeats: 200)
  }

  // The commit alone: its mallocs (0 is the claim) and its time.
  Benchmark(
    "commit of a 64 KiB bind (UAT)",
    configuration: .init(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .one)
  ) { benchmark in
    let (_, device, vm) = uatVM()
    let object = try! device.makeObject(size: 0x10000)
    let request = MapRequest(
      address: 0x10_0000, range: 0x10000, backing: .object(object.id, offset: 0))
    try! vm.bind(vm.space.planMap(request))
    try! vm.unbind(at: 0x10_0000, range: 0x10000)
    let prepared = try! vm.prepare(vm.space.planMap(request))
    benchmark.startMeasurement()
    let done = vm.commit(prepared)
    benchmark.stopMeasurement()
    blackHole(vm.complete(done))
    try! vm.unbind(at: 0x10_0000, range: 0x10000)
    blackHole(vm.tearDown())
  }

  // Teardown of a VM holding 1,000 VAs (64 KiB each, 4 pages): per VA.
  Benchmark(
    "tear down a VM of 1,000 VAs (UAT, per VA)",
    configuration: .init(
      metrics: [.wallClock, nsPerRequest], scalingFactor: .one, maxIterations: 50)
  ) { benchmark in
    let (_, device, vm) = uatVM()
    let object = try! device.makeObject(size: 0x10000)
    for i in 0..<1000 as Range<UInt64> {
      try! vm.bind(object, at: 0x1_0000_0000 + i * 0x20000, range: 0x10000)
    }
    let clock = ContinuousClock()
    benchmark.startMeasurement()
    let elapsed = clock.measure { blackHole(vm.tearDown()) }
    benchmark.stopMeasurement()
    let attoseconds =
      elapsed.components.seconds * 1_000_000_000_000_000_000 + elapsed.components.attoseconds
    benchmark.measurement(nsPerRequest, Int(attoseconds / 1_000_000_000 / 1000))
  }
}
