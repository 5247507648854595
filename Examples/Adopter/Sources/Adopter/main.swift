import PageTables
import PhysicalPageTables
import PhysicalPages

/// Your TLB maintenance (TLBI on ARM64, INVLPG on x86-64, SFENCE.VMA on RISC-V, a
/// GPU's invalidation command); this one prints what it is asked to do.
struct PrintingTLB: TLBInvalidator {
  mutating func invalidateAll() { print("invalidate everything") }
  mutating func invalidate(start: UInt64, size: UInt64, granule: UInt64, leafOnly: Bool) {
    print("invalidate \(ValueText.hex(start)), \(ValueText.size(size))")
  }
}

let ram = try PhysicalMemory()  // 64 MiB at 0x8000_0000, 4 KiB pages
let table = try PageTable(
  format: ARM64Format(granule: .k4, inputBits: 48), physicalMemory: ram)

// One 2 MiB block and four 4 KiB pages.
try table.map(
  virtualAddress: 0x20_0000, physicalAddress: 0x8020_0000, size: 0x20_0000,
  protection: .readWrite)
try table.map(
  virtualAddress: 0x40_0000, physicalAddress: 0x8040_0000, size: 0x4000,
  protection: Protection(execute: true, user: true))

print(table.translate(0x20_1234)!)  // 0x8020_1234 (2 MiB leaf at level 2, rw-)
for run in table.dump() { print(run) }  // 0x20_0000..0x40_0000 -> 0x8020_0000 (2 MiB, rw-) ...

var gather = TLBGather(invalidator: PrintingTLB())
try table.unmap(virtualAddress: 0x20_0000, size: 0x20_0000, gather: &gather)
try table.unmap(virtualAddress: 0x40_0000, size: 0x4000, gather: &gather)
table.flush(&gather)  // invalidate, then free the emptied tables

// A GPU buffer mapped by a table that holds it until the unmap is invalidated.
let gpu = try OwningPageTable(format: AppleUATFormat(), physicalMemory: ram)
try gpu.map(
  ram.allocatePages(order: 2, zeroed: true), at: 0x1_0000_0000,  // 16 KiB, owned
  protection: Protection(write: true, user: true))
print(gpu.table.translate(0x1_0000_0010)!)  // the buffer + 0x10 (16 KiB leaf at level 2, rw- user)
var gpuGather = PageGather(releasingPagesAfter: PrintingTLB())
try gpu.unmap(virtualAddress: 0x1_0000_0000, size: 0x4000, gather: &gpuGather)
gpu.flush(&gpuGather)  // invalidated, then the buffer's pages are freed

// A table page's lifecycle by hand: hand it out as a physical address, take it back once.
let address = try ram.allocatePage(zeroed: true).intoPhysicalAddress()
let page = try unsafe Page(fromPhysicalAddress: address, in: ram)
print(page.physicalAddress)  // freed when `page` goes
