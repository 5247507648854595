// CPageMemory: thin wrappers around the Linux calls that back PhysicalPages.
//
// memfd_create and fallocate need _GNU_SOURCE, which Swift's Glibc module does not
// define, so they are wrapped here in plain functions. Every function returns -1
// (or NULL) on failure and leaves the reason in errno (read it with cpm_errno()).
#ifndef CPAGEMEMORY_H
#define CPAGEMEMORY_H

#include <stddef.h>
#include <stdint.h>

/// Creates an anonymous memory file (MFD_CLOEXEC). Returns the descriptor or -1.
int cpm_memfd_create(const char *name);

/// Sets the file's size without touching any page (sparse). Returns 0 or -1.
int cpm_ftruncate(int fd, int64_t size);

/// Drops the contents of a byte range of the file (FALLOC_FL_PUNCH_HOLE |
/// FALLOC_FL_KEEP_SIZE); every mapping then reads zeros there. Returns 0 or -1.
int cpm_punch_hole(int fd, int64_t offset, int64_t length);

/// Closes a descriptor. Returns 0 or -1.
int cpm_close(int fd);

/// Maps `length` bytes of the file at `offset`, read-write, MAP_SHARED.
/// Returns the address or NULL.
void *cpm_map_shared(int fd, size_t length, int64_t offset);

/// Maps `length` bytes of the file at `offset` read-write MAP_SHARED|MAP_FIXED over
/// `address` (which must lie in a range this process reserved). Returns 0 or -1.
int cpm_map_shared_fixed(void *address, size_t length, int fd, int64_t offset);

/// Maps anonymous private read-write memory with MAP_NORESERVE: nothing is committed
/// until touched, and it reads as zeros. Returns the address or NULL.
void *cpm_map_anonymous_noreserve(size_t length);

/// Reserves `length` bytes of address space with PROT_NONE (MAP_NORESERVE).
/// Returns the address or NULL.
void *cpm_reserve(size_t length);

/// Replaces `length` bytes at `address` with a fresh PROT_NONE reservation
/// (MAP_FIXED), dropping whatever was mapped there. Returns 0 or -1.
int cpm_rereserve(void *address, size_t length);

/// Unmaps a range. Returns 0 or -1.
int cpm_unmap(void *address, size_t length);

/// madvise(MADV_REMOVE): frees the backing of a shared range. Returns 0 or -1.
int cpm_madvise_remove(void *address, size_t length);

/// madvise(MADV_DONTNEED). Returns 0 or -1.
int cpm_madvise_dontneed(void *address, size_t length);

/// Number of host pages of [address, address + length) that are resident (mincore),
/// or -1 on failure. `address` must be host-page aligned.
int64_t cpm_resident_pages(void *address, size_t length);

/// The host's page size (sysconf(_SC_PAGESIZE)).
size_t cpm_host_page_size(void);

/// Tells ThreadSanitizer, when the process runs under it, that the lock identified by
/// `address` was acquired (happens-after its last release). No-op otherwise.
/// (Swift's Synchronization.Mutex uses futexes that TSan does not see.)
void cpm_tsan_acquire(const void *address);

/// Tells ThreadSanitizer that the lock identified by `address` is being released.
void cpm_tsan_release(const void *address);

/// The calling thread's page-cache pointer (defined in CPageMemory.c). Read and
/// written only through the two inline functions below.
extern __thread void *cpm_thread_slots_value;

/// The calling thread's page-cache pointer: a C `__thread` variable, read inline (one
/// thread-local load, cheaper than pthread_getspecific or a call on the allocation
/// fast path). NULL until set.
static inline void *cpm_thread_slots(void) { return cpm_thread_slots_value; }

/// Sets the calling thread's page-cache pointer.
static inline void cpm_set_thread_slots(void *slots) { cpm_thread_slots_value = slots; }

/// The calling thread's errno.
int cpm_errno(void);

#endif
