/// The `pgtable demo` walkthrough: the page layer first, then page tables on it,
/// then a GPU driver's memory side on those.
public enum Demo {
  /// Runs every part of the demo, printing each line through `print`.
  public static func run(print: (String) -> Void) throws {
    print("PageTables demo")
    print("")
    try PageLayerDemo.run(print: print)
    print("")
    try PageTableDemo.run(print: print)
    print("")
    try GPUMemoryDemo.run(print: print)
  }
}
