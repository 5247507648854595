// Start stub and CPU helpers for the riscv64 guest (QEMU `virt`, `-bios none`).
//
// QEMU starts `_start` in M-mode at 0x8000_0000. The stub sets a stack, clears
// .bss, opens physical memory to S- and U-mode (PMP entry 0 covers everything),
// delegates page faults to S-mode and calls the Swift program's `guest_main` in
// M-mode. The program either probes host-built tables from M-mode (with
// mstatus.MPRV, loads and stores are translated as if from S- or U-mode while the
// program itself runs untranslated), or enters S-mode (`enter_supervisor`) to
// build and use its own tables as an operating system would.

        .equ    MSTATUS_MPP, (3 << 11)
        .equ    MSTATUS_MPP_S, (1 << 11)
        .equ    MSTATUS_MPRV, (1 << 17)
        .equ    TEST_DEVICE, 0x100000

        .section .text.start, "ax"
        .global _start
_start:
        .option push
        .option norelax
        la      gp, __global_pointer$
        .option pop
        la      sp, __stack_top
        la      t0, __bss_start
        la      t1, __bss_end
1:      bgeu    t0, t1, 2f
        sd      zero, 0(t0)
        addi    t0, t0, 8
        j       1b
2:      li      t0, -1
        csrw    pmpaddr0, t0
        li      t0, 0x1f                        // NAPOT, read/write/execute
        csrw    pmpcfg0, t0
        la      t0, machine_trap
        csrw    mtvec, t0
        li      t0, (1 << 12) | (1 << 13) | (1 << 15)
        csrw    medeleg, t0
        call    guest_main
        j       machine_exit

// void machine_exit(int status): ends QEMU through the test device (from any mode:
// S-mode reaches it with an ecall).
        .global machine_exit
machine_exit:
        ecall
        j       .

        .option norvc
        .balign 4
machine_trap:
        csrr    t0, mcause
        li      t1, 9                           // ecall from S-mode
        beq     t0, t1, exit_now
        li      t1, 11                          // ecall from M-mode
        beq     t0, t1, exit_now
        csrr    t0, mepc
        la      t1, probe_m_load_insn
        la      t2, probe_m_load_resume
        beq     t0, t1, 1f
        la      t1, probe_m_store_insn
        la      t2, probe_m_store_resume
        beq     t0, t1, 1f
        csrr    a0, mcause
        csrr    a1, mepc
        csrr    a2, mtval
        call    guest_unexpected_exception
        j       .
1:      csrw    mepc, t2
        csrr    t0, mcause
        sd      t0, 0(a2)
        csrr    t0, mtval
        sd      t0, 8(a2)
        mret

exit_now:
        li      t0, TEST_DEVICE
        li      t1, 0x5555                      // pass
        beqz    a0, 1f
        slli    t1, a0, 16
        li      t2, 0x3333                      // fail with code a0
        or      t1, t1, t2
1:      sw      t1, 0(t0)
        j       .

// uint64_t probe_m_load(uint64_t va, uint64_t mode, uint64_t fault[2]): an 8-byte
// load translated as from `mode` (0 U, 1 S); fault[0] = mcause (0 if none),
// fault[1] = mtval.
        .global probe_m_load
probe_m_load:
        sd      zero, 0(a2)
        li      t0, MSTATUS_MPP
        csrc    mstatus, t0
        slli    t1, a1, 11
        csrs    mstatus, t1
        li      t0, MSTATUS_MPRV
        csrs    mstatus, t0
probe_m_load_insn:
        ld      a0, 0(a0)
probe_m_load_resume:
        li      t0, MSTATUS_MPRV
        csrc    mstatus, t0
        ret

// void probe_m_store(uint64_t va, uint64_t value, uint64_t fault[2], uint64_t mode)
        .global probe_m_store
probe_m_store:
        sd      zero, 0(a2)
        li      t0, MSTATUS_MPP
        csrc    mstatus, t0
        slli    t1, a3, 11
        csrs    mstatus, t1
        li      t0, MSTATUS_MPRV
        csrs    mstatus, t0
probe_m_store_insn:
        sd      a1, 0(a0)
probe_m_store_resume:
        li      t0, MSTATUS_MPRV
        csrc    mstatus, t0
        ret

// void set_menvcfg(uint64_t bits): sets bits in menvcfg (CSR 0x30a; PBMTE [62],
// ADUE [61]), from M-mode.
        .global set_menvcfg
set_menvcfg:
        csrs    0x30a, a0
        ret

// void set_satp_machine(uint64_t satp): the tables MPRV accesses use.
        .global set_satp_machine
set_satp_machine:
        csrw    satp, a0
        sfence.vma
        ret

// void enter_supervisor(void (*entry)(void)): continue in S-mode at `entry`,
// on the same stack.
        .global enter_supervisor
enter_supervisor:
        csrw    mepc, a0
        li      t0, MSTATUS_MPP
        csrc    mstatus, t0
        li      t0, MSTATUS_MPP_S
        csrs    mstatus, t0
        la      t0, supervisor_trap
        csrw    stvec, t0
        mret

        .balign 4
supervisor_trap:
        csrr    t0, sepc
        la      t1, probe_s_load_insn
        la      t2, probe_s_load_resume
        beq     t0, t1, 1f
        la      t1, probe_s_store_insn
        la      t2, probe_s_store_resume
        beq     t0, t1, 1f
        csrr    a0, scause
        csrr    a1, sepc
        csrr    a2, stval
        call    guest_unexpected_exception
        j       .
1:      csrw    sepc, t2
        csrr    t0, scause
        sd      t0, 0(a2)
        csrr    t0, stval
        sd      t0, 8(a2)
        sret

// S-mode probes: uint64_t probe_s_load(uint64_t va, uint64_t unused, uint64_t fault[2])
        .global probe_s_load
probe_s_load:
        sd      zero, 0(a2)
probe_s_load_insn:
        ld      a0, 0(a0)
probe_s_load_resume:
        ret

// void probe_s_store(uint64_t va, uint64_t value, uint64_t fault[2])
        .global probe_s_store
probe_s_store:
        sd      zero, 0(a2)
probe_s_store_insn:
        sd      a1, 0(a0)
probe_s_store_resume:
        ret

// S-mode translation control.
        .global set_satp
set_satp:
        sfence.vma
        csrw    satp, a0
        sfence.vma
        ret

        .global sfence_page
sfence_page:
        sfence.vma a0, zero
        ret

        .global sfence_all
sfence_all:
        sfence.vma
        ret
