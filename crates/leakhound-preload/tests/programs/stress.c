// Allocator stress under the profiler: THREADS threads allocate, check and free blocks of
// random sizes through every interposed function for SECONDS. Each block is filled with a
// pattern derived from its slot and size, and checked byte for byte before it is freed or
// reallocated; each thread sums what it checked. Prints the checksum and exits 0, or reports
// the first corrupt block and exits 1.
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 512
static double seconds = 10;
static int threads = 8;
static volatile int corrupt;

struct block { unsigned char *p; size_t size; unsigned char seed; };

static uint64_t next(uint64_t *s) {
  *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
  return *s;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static size_t random_size(uint64_t *s) {
  // Mostly small, sometimes large: 1 B to 256 KiB, roughly log-uniform.
  unsigned bits = (unsigned)(next(s) % 18);
  return 1 + (size_t)(next(s) % ((size_t)1 << bits));
}

static void fill(struct block *b) {
  for (size_t i = 0; i < b->size; i++) b->p[i] = (unsigned char)(b->seed + i * 31);
}

static uint64_t check(struct block *b, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char want = (unsigned char)(b->seed + i * 31);
    if (b->p[i] != want) {
      corrupt = 1;
      fprintf(stderr, "corrupt block %p size %zu at %zu\n", (void *)b->p, b->size, i);
      return sum;
    }
    sum += want;
  }
  return sum;
}

static void *work(void *arg) {
  uint64_t s = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1), sum = 0, ops = 0;
  struct block blocks[SLOTS] = {0};
  double end = now() + seconds;
  while (now() < end && !corrupt) {
    for (int k = 0; k < 1000; k++) {
      struct block *b = &blocks[next(&s) % SLOTS];
      ops++;
      if (b->p) {
        sum += check(b, b->size);
        if (next(&s) % 4 == 0) {
          // Grow or shrink in place or by moving: the kept prefix must survive.
          size_t n = random_size(&s);
          unsigned char *q = realloc(b->p, n);
          if (!q) abort();
          b->p = q;
          sum += check(b, n < b->size ? n : b->size);
          b->size = n;
          fill(b);
          continue;
        }
        free(b->p);
        b->p = NULL;
        continue;
      }
      b->size = random_size(&s);
      b->seed = (unsigned char)next(&s);
      switch (next(&s) % 6) {
        case 0: b->p = calloc(1, b->size); break;
        case 1: if (posix_memalign((void **)&b->p, 64, b->size)) b->p = NULL; break;
        case 2: b->p = aligned_alloc(32, (b->size + 31) / 32 * 32); break;
        case 3: b->p = memalign(128, b->size); break;
        default: b->p = malloc(b->size); break;
      }
      if (!b->p) abort();
      fill(b);
    }
  }
  for (int i = 0; i < SLOTS; i++) {
    if (blocks[i].p) {
      sum += check(&blocks[i], blocks[i].size);
      free(blocks[i].p);
    }
  }
  uint64_t *out = malloc(2 * sizeof *out);
  out[0] = sum;
  out[1] = ops;
  return out;
}

int main(int argc, char **argv) {
  if (argc > 1) seconds = atof(argv[1]);
  if (argc > 2) threads = atoi(argv[2]);
  pthread_t t[64];
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, work, (void *)i);
  uint64_t sum = 0, ops = 0;
  for (int i = 0; i < threads; i++) {
    uint64_t *r;
    pthread_join(t[i], (void **)&r);
    sum += r[0];
    ops += r[1];
    free(r);
  }
  if (corrupt) return 1;
  printf("ok checksum %llu ops %llu\n", (unsigned long long)sum, (unsigned long long)ops);
  return 0;
}
