// swift-tools-version: 6.2
// A package that uses PageTables the way an adopter does: by a git URL and a
// version. An adopter names the repository's URL; this example names a local
// bare repository that Scripts/check-adopter.sh fills with this checkout's HEAD,
// tagged with the release version (SwiftPM resolves versions from git tags, and
// CI has no network). It runs the README's example, which is its main.swift.
import PackageDescription

let package = Package(
  name: "Adopter",
  dependencies: [
    .package(
      url: "file://\(Context.packageDirectory)/../../.build-adopter/PageTables.git",
      from: "0.1.0")
  ],
  targets: [
    .executableTarget(
      name: "Adopter",
      dependencies: [
        .product(name: "PageTables", package: "PageTables"),
        .product(name: "PhysicalPageTables", package: "PageTables"),
        .product(name: "PhysicalPages", package: "PageTables"),
      ])
  ]
)
