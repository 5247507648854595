// swift-tools-version: 6.2
// PageTables: owned physical pages and the hardware page tables built on them.
import PackageDescription

/// Every Swift target: strict memory safety, and its diagnostics are errors.
let strict: [SwiftSetting] = [
  .strictMemorySafety(),
  .treatWarning("StrictMemorySafety", as: .error),
  // Let generic engine code specialise across modules in release builds (the
  // page-table hot paths cross PageTables, PhysicalPageTables and PhysicalPages).
  .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
  name: "PageTables",
  products: [
    .library(name: "PhysicalPages", targets: ["PhysicalPages"]),
    .library(name: "PageTables", targets: ["PageTables"]),
    .library(name: "PhysicalPageTables", targets: ["PhysicalPageTables"]),
    .library(name: "PageTablesTools", targets: ["PageTablesTools"]),
    .library(name: "GPUVirtualMemory", targets: ["GPUVirtualMemory"]),
    .library(name: "MMUModel", targets: ["MMUModel"]),
    .library(name: "PageTableImages", targets: ["PageTableImages"]),
    .executable(name: "pgtable", targets: ["pgtable"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
  ],
  targets: [
    // memfd / fallocate / mmap wrappers (need _GNU_SOURCE, so they live in C).
    .target(name: "CPageMemory"),
    // The machine's RAM: memfd-backed physical memory, descriptors, buddy, pages, vmalloc.
    .target(name: "PhysicalPages", dependencies: ["CPageMemory"], swiftSettings: strict),
    // The page-table engine and the hardware formats. Embedded-Swift clean.
    .target(name: "PageTables", swiftSettings: strict),
    // Page tables whose table memory is PhysicalPages (the seed's lifecycle).
    .target(
      name: "PhysicalPageTables", dependencies: ["PhysicalPages", "PageTables"],
      swiftSettings: strict),
    // GPU virtual memory: drm_gpuvm-style VA manager, buffer objects, two-phase binding.
    .target(
      name: "GPUVirtualMemory",
      dependencies: ["PhysicalPages", "PageTables", "PhysicalPageTables"],
      swiftSettings: strict),
    // Library code behind the command line tool (demo, dump, conformance runs).
    .target(
      name: "PageTablesTools",
      dependencies: ["PhysicalPages", "PageTables", "PhysicalPageTables", "GPUVirtualMemory"],
      swiftSettings: strict),
    // The hardware side as a test instrument: walker, TLB, walk caches, checker.
    .target(
      name: "MMUModel", dependencies: ["PageTables", "PhysicalPages"], swiftSettings: strict),
    // Table images, memory dumps, mapping specs and pictures.
    .target(
      name: "PageTableImages",
      dependencies: ["PageTables", .product(name: "Yams", package: "Yams")],
      swiftSettings: strict),
    .executableTarget(
      name: "pgtable",
      dependencies: [
        "PageTablesTools",
        "PageTableImages",
        "MMUModel",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict),
    .testTarget(
      name: "PhysicalPagesTests", dependencies: ["PhysicalPages"], swiftSettings: strict),
    .testTarget(
      name: "GPUVirtualMemoryTests",
      dependencies: [
        "GPUVirtualMemory", "PageTables", "PhysicalPages", "PhysicalPageTables", "PageTablesTools",
        "MMUModel",
      ],
      swiftSettings: strict),
    .testTarget(
      name: "PageTablesTests",
      dependencies: ["PageTables", "PhysicalPages", "PhysicalPageTables", "PageTablesTools"],
      swiftSettings: strict),
    .testTarget(
      name: "MMUModelTests",
      dependencies: [
        "MMUModel", "PageTables", "PhysicalPages", "PhysicalPageTables", "PageTablesTools",
      ],
      swiftSettings: strict),
    .testTarget(
      name: "PageTableImagesTests",
      dependencies: ["PageTableImages", "PageTables", "PageTablesTools", "pgtable"],
      swiftSettings: strict),
  ]
)
