import GPUVirtualMemory
import PageTables
import PageTablesTools
import Testing

@Suite struct VATreeTests {
  @Test func randomInsertsAndRemovesMatchASortedModel() {
    var tree = VATree()
    var model: [UInt64: UInt64] = [:]  // start -> end
    var random = SplitMix64(seed: 11)
    for _ in 0..<4000 {
      let start = random.next() % 512 * 0x1000
      let range = (random.next() % 4 + 1) * 0x1000
      if random.next() % 3 == 0, let victim = model.keys.randomElement(using: &random) {
        #expect(tree.remove(at: victim)?.address == victim)
        model[victim] = nil
      } else {
        let overlaps = model.contains { $0.key < start + range && start < $0.value }
        let refused = tree.insert(GPUVA(address: start, range: range, backing: .sparse))
        #expect((refused != nil) == overlaps)
        if !overlaps { model[start] = start + range }
      }
      let probe = random.next() % 520 * 0x1000
      let expected = model.filter { $0.value > probe && $0.key < probe + 0x3000 }.keys.min()
      #expect(
        tree.firstOverlap(start: probe, end: probe + 0x3000).map { tree[$0].address } == expected)
    }
    tree.checkInvariants()
    #expect(tree.all.map(\.address) == model.keys.sorted())
  }

  @Test func reservedNodesServeInsertsWithoutGrowing() {
    var tree = VATree()
    tree.reserve(3)
    #expect(tree.freeCount == 3)
    for i in 0..<3 as Range<UInt64> {
      tree.insert(GPUVA(address: i * 0x1000, range: 0x1000, backing: .sparse))
    }
    #expect(tree.freeCount == 0 && tree.count == 3)
    tree.remove(at: 0x1000)
    #expect(tree.freeCount == 1)
  }
}
