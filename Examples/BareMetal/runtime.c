// The little C runtime an Embedded Swift program needs on bare metal: memory
// functions, an allocator over the heap the linker script reserves, and putchar
// for `print` (the UART is written by the Swift program's `uart_putc`).
#include <stddef.h>
#include <stdint.h>

void *memset(void *d, int c, size_t n) {
  unsigned char *p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}

void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  while (n--) *p++ = *q++;
  return d;
}

void *memmove(void *d, const void *s, size_t n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  if (p < q) {
    while (n--) *p++ = *q++;
  } else {
    while (n--) p[n] = q[n];
  }
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p - *q;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

// Allocator: blocks of 2^k bytes (k = 4...26), each aligned to its own size (so
// any alignment up to the block size holds), carved from the heap and kept on a
// free list per size when freed. One byte per 16 heap bytes remembers a block's
// size class for free().
extern char __heap_start[], __heap_end[];
static uintptr_t heap_next;
static void *free_lists[27];
static unsigned char size_class[(64u << 20) / 16];

static unsigned class_for(size_t size, size_t alignment) {
  size_t need = size > alignment ? size : alignment;
  unsigned k = 4;
  while (((size_t)1 << k) < need) k++;
  return k;
}

int posix_memalign(void **out, size_t alignment, size_t size) {
  unsigned k = class_for(size, alignment);
  if (k > 26) return 12;
  void *block = free_lists[k];
  if (block) {
    free_lists[k] = *(void **)block;
  } else {
    if (!heap_next) heap_next = (uintptr_t)__heap_start;
    uintptr_t bytes = (uintptr_t)1 << k;
    uintptr_t start = (heap_next + bytes - 1) & ~(bytes - 1);
    if (start + bytes > (uintptr_t)__heap_end ||
        (start - (uintptr_t)__heap_start) / 16 >= sizeof size_class)
      return 12;
    heap_next = start + bytes;
    block = (void *)start;
    size_class[(start - (uintptr_t)__heap_start) / 16] = (unsigned char)k;
  }
  *out = block;
  return 0;
}

void *malloc(size_t size) {
  void *p = 0;
  return posix_memalign(&p, 16, size) ? 0 : p;
}

void free(void *p) {
  if (!p) return;
  unsigned k = size_class[((uintptr_t)p - (uintptr_t)__heap_start) / 16];
  *(void **)p = free_lists[k];
  free_lists[k] = p;
}

// Hashing seeds: the program needs no randomness, so a fixed pattern will do.
void arc4random_buf(void *buffer, size_t n) {
  unsigned char *p = buffer;
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(0x5a + 13 * i);
}

void uart_putc(unsigned char c);

int putchar(int c) {
  uart_putc((unsigned char)c);
  return c;
}
