/// The package's version, as `pgtable --version` prints it and the CHANGELOG names it.
///
/// ```swift
/// print(PackageVersion.current)  // 0.1.0
/// ```
public enum PackageVersion {
  /// The release this checkout is, in semantic versioning (`MAJOR.MINOR.PATCH`).
  public static let current = "0.1.0"
}
