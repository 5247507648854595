// Wrappers for memfd/fallocate/mmap; see include/CPageMemory.h.
#define _GNU_SOURCE
#include "CPageMemory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int cpm_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int cpm_ftruncate(int fd, int64_t size) { return ftruncate(fd, (off_t)size); }

int cpm_punch_hole(int fd, int64_t offset, int64_t length) {
  return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
                   (off_t)length);
}

int cpm_close(int fd) { return close(fd); }

void *cpm_map_shared(int fd, size_t length, int64_t offset) {
  void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
  return p == MAP_FAILED ? NULL : p;
}

int cpm_map_shared_fixed(void *address, size_t length, int fd, int64_t offset) {
  void *p = mmap(address, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                 (off_t)offset);
  return p == MAP_FAILED ? -1 : 0;
}

void *cpm_map_anonymous_noreserve(size_t length) {
  void *p = mmap(NULL, length, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void *cpm_reserve(size_t length) {
  void *p = mmap(NULL, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int cpm_rereserve(void *address, size_t length) {
  void *p = mmap(address, length, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  return p == MAP_FAILED ? -1 : 0;
}

int cpm_unmap(void *address, size_t length) { return munmap(address, length); }

int cpm_madvise_remove(void *address, size_t length) {
  return madvise(address, length, MADV_REMOVE);
}

int cpm_madvise_dontneed(void *address, size_t length) {
  return madvise(address, length, MADV_DONTNEED);
}

int64_t cpm_resident_pages(void *address, size_t length) {
  size_t host = (size_t)sysconf(_SC_PAGESIZE);
  size_t pages = (length + host - 1) / host;
  unsigned char *vec = malloc(pages ? pages : 1);
  if (vec == NULL) return -1;
  if (mincore(address, length, vec) != 0) {
    free(vec);
    return -1;
  }
  int64_t resident = 0;
  for (size_t i = 0; i < pages; i++) resident += vec[i] & 1;
  free(vec);
  return resident;
}

size_t cpm_host_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

int cpm_errno(void) { return errno; }

// Resolved to the ThreadSanitizer runtime when it is linked in, NULL otherwise.
void __tsan_acquire(void *address) __attribute__((weak));
void __tsan_release(void *address) __attribute__((weak));

void cpm_tsan_acquire(const void *address) {
  if (__tsan_acquire) __tsan_acquire((void *)address);
}

void cpm_tsan_release(const void *address) {
  if (__tsan_release) __tsan_release((void *)address);
}

__thread void *cpm_thread_slots_value;
