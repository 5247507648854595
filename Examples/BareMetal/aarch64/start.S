// Start stub and CPU helpers for the aarch64 guest (QEMU `virt`, `-cpu max`).
//
// QEMU starts the ELF at `_start` at EL1 (`-M virt`) or EL2 (`-M virt,virtualization=on`),
// MMU off. The stub sets up a stack, enables FP/SIMD (Swift code uses it), installs
// the exception vectors, clears .bss and calls the Swift program's `guest_main`.
// The helpers below are the few instructions Swift cannot spell: system registers,
// address translation (AT), TLB maintenance, probe accesses that may fault, and the
// semihosting call that ends QEMU.

        .section .text.start, "ax"
        .global _start
_start:
        ldr     x0, =__stack_top
        mov     sp, x0
        mrs     x0, CurrentEL
        cmp     x0, #(2 << 2)
        b.ne    1f
        // EL2: do not trap FP/SIMD, EL1 is AArch64 (HCR_EL2.RW), our vectors.
        mov     x0, #0x33ff
        msr     cptr_el2, x0
        mov     x0, #(1 << 31)
        msr     hcr_el2, x0
        adr     x0, vectors_el2
        msr     vbar_el2, x0
1:      mov     x0, #(3 << 20)                  // CPACR_EL1.FPEN: no FP/SIMD traps
        msr     cpacr_el1, x0
        adr     x0, vectors_el1
        msr     vbar_el1, x0
        isb
        ldr     x0, =__bss_start
        ldr     x1, =__bss_end
2:      cmp     x0, x1
        b.hs    3f
        str     xzr, [x0], #8
        b       2b
3:      bl      guest_main
        bl      semihosting_exit
        b       .

// Exceptions. A synchronous exception at one of the probe instructions records
// ESR and FAR through the pointer in x2 and resumes after the instruction; anything
// else is reported by the Swift program, which ends the run.
.macro  VECTORS el
        .balign 2048
vectors_\el:
        .rept   4                               // current EL, SP_EL0
        .balign 128
        b       unexpected_\el
        .endr
        .balign 128                             // current EL, SP_ELx: synchronous
        b       sync_\el
        .rept   11                              // IRQ, FIQ, SError; lower ELs
        .balign 128
        b       unexpected_\el
        .endr

sync_\el:
        mrs     x9, elr_\el
        adr     x10, probe_load_insn
        cmp     x9, x10
        b.eq    1f
        adr     x10, probe_store_insn
        cmp     x9, x10
        b.ne    unexpected_\el
1:      mrs     x10, esr_\el
        str     x10, [x2]
        mrs     x10, far_\el
        str     x10, [x2, #8]
        add     x9, x9, #4
        msr     elr_\el, x9
        eret

unexpected_\el:
        mrs     x0, esr_\el
        mrs     x1, elr_\el
        mrs     x2, far_\el
        bl      guest_unexpected_exception
        b       .
.endm

        .text
        VECTORS el1
        VECTORS el2

// uint64_t probe_load(uint64_t va, uint64_t fault[2]): an 8-byte load; fault[0] is
// the ESR (0 when the load succeeded), fault[1] the FAR.
        .global probe_load
probe_load:
        mov     x2, x1
        str     xzr, [x2]
probe_load_insn:
        ldr     x0, [x0]
        ret

// void probe_store(uint64_t va, uint64_t value, uint64_t fault[2])
        .global probe_store
probe_store:
        str     xzr, [x2]
probe_store_insn:
        str     x1, [x0]
        ret

// Address translation without faulting: the answer is PAR_EL1.
.macro  AT_HELPER name, op
        .global \name
\name:
        at      \op, x0
        isb
        mrs     x0, par_el1
        ret
.endm
        AT_HELPER at_s1e1r, s1e1r
        AT_HELPER at_s1e1w, s1e1w
        AT_HELPER at_s1e0r, s1e0r
        AT_HELPER at_s1e0w, s1e0w
        AT_HELPER at_s12e1r, s12e1r
        AT_HELPER at_s12e1w, s12e1w

// void mmu_configure_el1(uint64_t mair, uint64_t tcr, uint64_t ttbr0, uint64_t ttbr1)
        .global mmu_configure_el1
mmu_configure_el1:
        msr     mair_el1, x0
        msr     tcr_el1, x1
        msr     ttbr0_el1, x2
        msr     ttbr1_el1, x3
        isb
        ret

// void mmu_enable_el1(void): SCTLR_EL1.M, C and I. The code runs on through the
// identity map, so the next instruction's address is the same.
        .global mmu_enable_el1
mmu_enable_el1:
        dsb     ish
        isb
        mrs     x0, sctlr_el1
        orr     x0, x0, #(1 << 0)
        orr     x0, x0, #(1 << 2)
        orr     x0, x0, #(1 << 12)
        msr     sctlr_el1, x0
        isb
        ret

// void stage2_configure(uint64_t vtcr, uint64_t vttbr): stage 2 on (HCR_EL2.VM).
        .global stage2_configure
stage2_configure:
        msr     vtcr_el2, x0
        msr     vttbr_el2, x1
        mrs     x0, hcr_el2
        orr     x0, x0, #1
        msr     hcr_el2, x0
        isb
        tlbi    alle1
        dsb     ish
        isb
        ret

// Barriers and TLB maintenance for the EL1&0 regime (inner shareable).
        .global barrier_after_map
barrier_after_map:
        dsb     ishst
        isb
        ret

// void tlbi_va(uint64_t va, int leaf_only): TLBI VAE1IS / VALE1IS for one address.
        .global tlbi_va
tlbi_va:
        dsb     ishst
        lsr     x0, x0, #12
        and     x0, x0, #0xfffffffffff
        cbnz    x1, 1f
        tlbi    vae1is, x0
        ret
1:      tlbi    vale1is, x0
        ret

// void tlbi_sync(void): wait for the TLBIs issued so far.
        .global tlbi_sync
tlbi_sync:
        dsb     ish
        isb
        ret

        .global tlbi_all
tlbi_all:
        dsb     ishst
        tlbi    vmalle1is
        dsb     ish
        isb
        ret

// void semihosting_exit(int status): SYS_EXIT with ADP_Stopped_ApplicationExit.
        .global semihosting_exit
semihosting_exit:
        ldr     x1, =semihosting_block
        mov     x2, #0x26
        movk    x2, #2, lsl #16
        str     x2, [x1]
        sxtw    x0, w0
        str     x0, [x1, #8]
        mov     w0, #0x18
        hlt     #0xf000
        b       .

        .bss
        .balign 16
semihosting_block:
        .space  16
