// Start stub and CPU helpers for the x86_64 guest (QEMU `pc`, `-cpu max`).
//
// QEMU's `-kernel` loads a Multiboot image; it refuses 64-bit ELF files, so the
// build turns the ELF into a flat binary and this header gives its load addresses
// (the a.out kludge, flag bit 16). The CPU arrives in 32-bit protected mode with
// paging off. The stub identity maps the first 4 GiB with 2 MiB pages (4-level,
// or 5-level when the host's plan asks for LA57, which can only be switched while
// paging is off), enables PAE, long mode, NX, SMAP, write protection and SSE,
// enters 64-bit mode, installs an IDT and calls the Swift program's `guest_main`.

        .equ    PLAN, 0x1000000                 // Machine.planAddress
        .equ    PLAN_MAGIC_LOW, 0x4c505450      // "PTPL"
        .equ    CR4_PAE, 1 << 5
        .equ    CR4_OSFXSR, 1 << 9
        .equ    CR4_OSXMMEXCPT, 1 << 10
        .equ    CR4_LA57, 1 << 12
        .equ    CR4_SMAP, 1 << 21
        .equ    EFER, 0xc0000080

        .section .multiboot, "a"
        .balign 4
multiboot_header:
        .long   0x1badb002                      // magic
        .long   0x00010000                      // flags: the address fields below are valid
        .long   -(0x1badb002 + 0x00010000)      // checksum
        .long   multiboot_header                // header_addr
        .long   __load_start                    // load_addr
        .long   __load_end                      // load_end_addr
        .long   __bss_end                       // bss_end_addr
        .long   _start                          // entry_addr

        .section .text.start, "ax"
        .code32
        .global _start
_start:
        cli
        mov     $__stack_top, %esp
        mov     $__bss_start, %edi              // clear .bss (boot tables live there)
        mov     $__bss_end, %ecx
        sub     %edi, %ecx
        xor     %eax, %eax
        rep stosb

        // Four page directories of 2 MiB pages: 0..4 GiB, present, writable.
        mov     $boot_pd, %edi
        xor     %ecx, %ecx
1:      mov     %ecx, %eax
        shl     $21, %eax
        or      $0x83, %eax                     // P | RW | PS
        mov     %eax, (%edi,%ecx,8)
        inc     %ecx
        cmp     $2048, %ecx
        jne     1b
        mov     $boot_pdpt, %edi
        mov     $boot_pd + 0x03, %eax
        mov     %eax, 0(%edi)
        add     $0x1000, %eax
        mov     %eax, 8(%edi)
        add     $0x1000, %eax
        mov     %eax, 16(%edi)
        add     $0x1000, %eax
        mov     %eax, 24(%edi)
        movl    $boot_pdpt + 0x03, boot_pml4
        movl    $boot_pml4 + 0x03, boot_pml5

        mov     $CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT, %eax
        mov     $boot_pml4, %ebx
        cmpl    $PLAN_MAGIC_LOW, PLAN           // a plan asking for 5-level paging?
        jne     2f
        testl   $1, PLAN + 96                   // plan word 12, bit 0
        jz      2f
        or      $CR4_LA57, %eax
        mov     $boot_pml5, %ebx
2:      mov     %eax, %cr4
        mov     %ebx, %cr3
        mov     $EFER, %ecx
        rdmsr
        or      $(1 << 8) | (1 << 11), %eax     // LME, NXE
        wrmsr
        mov     %cr0, %eax
        and     $~(1 << 2), %eax                // no x87 emulation
        or      $(1 << 31) | (1 << 16) | (1 << 1) | 1, %eax   // PG, WP, MP, PE
        mov     %eax, %cr0
        lgdt    gdt_pointer
        ljmp    $0x08, $long_mode

        .code64
long_mode:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %ax, %fs
        mov     %ax, %gs
        mov     $__stack_top, %rsp
        // SMAP, if the CPU has it (CPUID.7.0:EBX[20]).
        mov     $7, %eax
        xor     %ecx, %ecx
        cpuid
        bt      $20, %ebx
        jnc     3f
        mov     %cr4, %rax
        or      $CR4_SMAP, %rax
        mov     %rax, %cr4
3:      // IDT: 32 interrupt gates to the stubs below.
        lea     idt(%rip), %rdi
        lea     isr_table(%rip), %rsi
        xor     %ecx, %ecx
4:      mov     (%rsi,%rcx,8), %rax
        mov     %ax, (%rdi)                     // offset 15:0
        movw    $0x08, 2(%rdi)                  // code segment
        movw    $0x8e00, 4(%rdi)                // present, DPL 0, interrupt gate
        shr     $16, %rax
        mov     %ax, 6(%rdi)                    // offset 31:16
        shr     $16, %rax
        mov     %eax, 8(%rdi)                   // offset 63:32
        movl    $0, 12(%rdi)
        add     $16, %rdi
        inc     %ecx
        cmp     $32, %ecx
        jne     4b
        lidt    idt_pointer(%rip)
        call    guest_main
        mov     %eax, %edi
        call    debug_exit
        hlt

// Exceptions: vector and error code (0 when the CPU pushes none) on the stack. A
// fault at one of the probe instructions records (vector << 32 | error code) and
// CR2 through the pointer in %rdx and resumes after the instruction; anything else
// is reported by the Swift program.
.macro  ISR vector
isr_\vector:
        .if (\vector == 8) || (\vector >= 10 && \vector <= 14) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
        .else
        push    $0
        .endif
        push    $\vector
        jmp     isr_common
.endm
        .irp    v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        ISR     \v
        .endr

isr_common:
        push    %rax
        push    %rcx                            // 0 rcx, 8 rax, 16 vector, 24 error, 32 rip
        mov     32(%rsp), %rax
        lea     probe_load_insn(%rip), %rcx
        cmp     %rcx, %rax
        lea     probe_load_resume(%rip), %rcx
        je      1f
        lea     probe_store_insn(%rip), %rcx
        cmp     %rcx, %rax
        lea     probe_store_resume(%rip), %rcx
        je      1f
        lea     probe_load_smap_insn(%rip), %rcx
        cmp     %rcx, %rax
        lea     probe_load_smap_resume(%rip), %rcx
        je      1f
        mov     16(%rsp), %rdi
        shl     $32, %rdi
        or      24(%rsp), %rdi
        mov     32(%rsp), %rsi
        mov     %cr2, %rdx
        call    guest_unexpected_exception
        hlt
1:      mov     %rcx, 32(%rsp)
        mov     16(%rsp), %rax
        shl     $32, %rax
        or      24(%rsp), %rax
        mov     %rax, (%rdx)
        mov     %cr2, %rax
        mov     %rax, 8(%rdx)
        pop     %rcx
        pop     %rax
        add     $16, %rsp
        iretq

        .section .rodata
        .balign 8
isr_table:
        .irp    v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad   isr_\v
        .endr

        .text
// uint64_t probe_load(uint64_t va, uint64_t unused, uint64_t fault[2]): an 8-byte
// load with EFLAGS.AC set (SMAP lets it reach user pages); fault[0] = vector << 32
// | error code (0 when the load succeeded), fault[1] = CR2.
        .global probe_load
probe_load:
        movq    $0, (%rdx)
        stac
probe_load_insn:
        mov     (%rdi), %rax
probe_load_resume:
        clac
        ret

// void probe_store(uint64_t va, uint64_t value, uint64_t fault[2]) (AC set)
        .global probe_store
probe_store:
        movq    $0, (%rdx)
        stac
probe_store_insn:
        mov     %rsi, (%rdi)
probe_store_resume:
        clac
        ret

// uint64_t probe_load_smap(uint64_t va, uint64_t unused, uint64_t fault[2]): a load
// with AC clear: SMAP makes it fault on a user page.
        .global probe_load_smap
probe_load_smap:
        movq    $0, (%rdx)
        clac
probe_load_smap_insn:
        mov     (%rdi), %rax
probe_load_smap_resume:
        ret

        .global write_cr3
write_cr3:
        mov     %rdi, %cr3
        ret

        .global invlpg
invlpg:
        invlpg  (%rdi)
        ret

// Flush every translation, global ones too: toggling CR4.PGE invalidates them all
// (SDM vol. 3A, 4.10.4.1); with PGE clear, a CR3 reload is enough.
        .global flush_tlb
flush_tlb:
        mov     %cr4, %rax
        test    $(1 << 7), %rax
        jz      1f
        mov     %rax, %rdx
        and     $~(1 << 7), %rax
        mov     %rax, %cr4
        mov     %rdx, %cr4
        ret
1:      mov     %cr3, %rax
        mov     %rax, %cr3
        ret

// void set_control_bits(uint64_t cr4, uint64_t efer, uint64_t cr0, uint64_t pat):
// the activation values other than CR3: IA32_PAT (MSR 0x277) is written, the
// others are ORed into CR4, IA32_EFER (MSR 0xC000_0080) and CR0.
        .global set_control_bits
set_control_bits:
        mov     %rdx, %r8                       // cr0 (rdmsr/wrmsr use rdx)
        mov     %rcx, %r9                       // pat
        mov     %cr4, %rax
        or      %rdi, %rax
        mov     %rax, %cr4
        mov     $EFER, %ecx
        rdmsr
        mov     %rsi, %r10
        or      %r10d, %eax
        shr     $32, %r10
        or      %r10d, %edx
        wrmsr
        mov     $0x277, %ecx
        mov     %r9d, %eax
        mov     %r9, %rdx
        shr     $32, %rdx
        wrmsr
        mov     %cr0, %rax
        or      %r8, %rax
        mov     %rax, %cr0
        ret

        .global port_out8
port_out8:
        mov     %edi, %edx
        mov     %esi, %eax
        outb    %al, %dx
        ret

// void debug_exit(int status): isa-debug-exit at port 0xf4; QEMU exits with
// (status << 1) | 1.
        .global debug_exit
debug_exit:
        mov     %edi, %eax
        outl    %eax, $0xf4
        hlt
        jmp     debug_exit

        .section .rodata
        .balign 8
gdt:
        .quad   0
        .quad   0x00af9a000000ffff              // 64-bit code
        .quad   0x00cf92000000ffff              // data
gdt_pointer:
        .word   gdt_pointer - gdt - 1
        .quad   gdt
idt_pointer:
        .word   32 * 16 - 1
        .quad   idt

        .bss
        .balign 4096
boot_pml5:
        .space  4096
boot_pml4:
        .space  4096
boot_pdpt:
        .space  4096
boot_pd:
        .space  4 * 4096
idt:
        .space  32 * 16
