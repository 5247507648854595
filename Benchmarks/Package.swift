// swift-tools-version: 6.1
// Benchmarks for PageTables, in their own package so library users never build
// benchmark dependencies. Run: `cd Benchmarks && swift package benchmark`.
//
// Each benchmark target lives in Benchmarks/<Name>/ (ordo-one layout); add one with
// `benchmarkTarget("PageTableBenchmarks", dependencies: [...])` below.
import Foundation
import PackageDescription

/// The PageTables package's identity: the name of the folder holding it (for `..`).
let pageTablesPackage = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
  name: "PageTablesBenchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(path: ".."),
    .package(
      url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    benchmarkTarget("PageAllocatorBenchmarks", dependencies: ["PhysicalPages"]),
    benchmarkTarget(
      "PageTableBenchmarks", dependencies: ["PageTables", "PhysicalPages", "PhysicalPageTables"]),
    benchmarkTarget(
      "GPUVirtualMemoryBenchmarks",
      dependencies: ["GPUVirtualMemory", "PageTables", "PhysicalPages", "PhysicalPageTables"]),
    // Runs one operation N times for callgrind's instruction counts (see its header).
    instructionCountTarget(
      "InstructionCounts", dependencies: ["PageTables", "PhysicalPages", "PhysicalPageTables"]),
    // The MMU model's operations N times, for callgrind (see its header).
    instructionCountTarget(
      "MMUModelInstructionCounts",
      dependencies: ["MMUModel", "PageTables", "PhysicalPages", "PhysicalPageTables"]),
    benchmarkTarget(
      "MMUModelBenchmarks",
      dependencies: ["MMUModel", "PageTables", "PhysicalPages", "PhysicalPageTables"]),
  ]
)

/// An ordo-one benchmark executable at Benchmarks/<name>, depending on products of
/// the PageTables package (by product name).
func benchmarkTarget(_ name: String, dependencies: [String]) -> Target {
  .executableTarget(
    name: name,
    dependencies: [.product(name: "Benchmark", package: "benchmark")]
      + dependencies.map { .product(name: $0, package: pageTablesPackage) },
    path: "Benchmarks/\(name)",
    plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
  )
}

/// A plain executable at Benchmarks/<name> (run under callgrind by a script),
/// depending on products of the PageTables package (by product name).
func instructionCountTarget(_ name: String, dependencies: [String]) -> Target {
  .executableTarget(
    name: name,
    dependencies: dependencies.map { .product(name: $0, package: pageTablesPackage) },
    path: name)
}
