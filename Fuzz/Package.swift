// swift-tools-version: 6.2
// libFuzzer harnesses for PageTables (own package, like Benchmarks, so library
// users never build them). Build and run them with Scripts/fuzz.sh.
import PackageDescription

let strict: [SwiftSetting] = [
  .strictMemorySafety(),
  .treatWarning("StrictMemorySafety", as: .error),
  // No `main` of our own: libFuzzer's drives LLVMFuzzerTestOneInput.
  .unsafeFlags(["-parse-as-library"]),
]

let package = Package(
  name: "PageTablesFuzz",
  dependencies: [.package(name: "PageTables", path: "..")],
  targets: [
    // Reads a fuzzer's bytes as numbers, choices and addresses.
    .target(name: "FuzzInput", swiftSettings: [.strictMemorySafety()]),
    // Operation sequences over every format and configuration, against a plain model.
    .executableTarget(
      name: "FuzzTableOperations",
      dependencies: [
        "FuzzInput", .product(name: "PageTables", package: "PageTables"),
        .product(name: "PhysicalPageTables", package: "PageTables"),
      ], swiftSettings: strict),
    // The page layer's API: allocation, ownership, access, lookups, vmalloc.
    .executableTarget(
      name: "FuzzPageLayer",
      dependencies: ["FuzzInput", .product(name: "PhysicalPages", package: "PageTables")],
      swiftSettings: strict),
    // The dump readers (table images, ELF cores, raw memory) and the walker on arbitrary bytes.
    .executableTarget(
      name: "FuzzDumpReaders",
      dependencies: ["FuzzInput", .product(name: "PageTableImages", package: "PageTables")],
      swiftSettings: strict),
    // The mapping-spec parser (JSON/YAML) and the image builder behind it.
    .executableTarget(
      name: "FuzzMappingSpec",
      dependencies: ["FuzzInput", .product(name: "PageTableImages", package: "PageTables")],
      swiftSettings: strict),
  ]
)
