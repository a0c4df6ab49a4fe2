// A program with its own allocator compiled in: the executable defines malloc and friends
// (a bump allocator over mmap'd chunks), so the dynamic loader binds every call, libc's own
// included, to these and a preloaded malloc is never called. It leaks 64 KiB per 10 ms for
// SECONDS.
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static char *chunk;
static size_t left;

void *malloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n > left) {
    size_t size = n > (1 << 24) ? n : (1 << 24);
    chunk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (chunk == MAP_FAILED) { errno = ENOMEM; return NULL; }
    left = size;
  }
  void *p = chunk;
  chunk += n;
  left -= n;
  return p;
}
void free(void *p) { (void)p; }
void *calloc(size_t a, size_t b) { return malloc(a * b); }  // mmap'd memory is zero
void *realloc(void *p, size_t n) {
  void *q = malloc(n);
  if (p && q) memcpy(q, p, n);  // may read past the old block: fine for this test
  return q;
}
int posix_memalign(void **out, size_t align, size_t n) {
  char *p = malloc(n + align);
  *out = (void *)(((size_t)p + align - 1) & ~(align - 1));
  return 0;
}
void *aligned_alloc(size_t align, size_t n) { void *p; posix_memalign(&p, align, n); return p; }
void *memalign(size_t align, size_t n) { return aligned_alloc(align, n); }

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  for (int i = 0; i < seconds * 100; i++) {
    memset(malloc(65536), 1, 65536);
    struct timespec t = {0, 10000000};
    nanosleep(&t, NULL);
  }
  return 0;
}
