// The allocation-heavy workload of bench/native_overhead.sh: THREADS threads each make OPS
// small allocations (16 to 511 bytes), each replacing a random one of 8192 live blocks, so the
// heap stays at a few MiB while malloc and free run flat out. Prints its own wall time, peak
// RSS and a checksum, so a tool around it (leakhound, heaptrack) is not measured as well.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#define SLOTS 8192
static long ops = 5000000;

static void *work(void *arg) {
  uint64_t s = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1), sum = 0;
  unsigned char **slots = calloc(SLOTS, sizeof *slots);
  for (long i = 0; i < ops; i++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    unsigned idx = (unsigned)(s % SLOTS);
    if (slots[idx]) { sum += slots[idx][0]; free(slots[idx]); }
    slots[idx] = malloc(16 + (s >> 20) % 496);
    slots[idx][0] = (unsigned char)i;
  }
  for (int i = 0; i < SLOTS; i++) free(slots[i]);
  free(slots);
  return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 4;
  if (argc > 2) ops = atol(argv[2]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  pthread_t t[64];
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, work, (void *)i);
  uint64_t sum = 0;
  for (int i = 0; i < threads; i++) {
    void *r;
    pthread_join(t[i], &r);
    sum += (uintptr_t)r;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("elapsed %.4f cpu %.4f maxrss_kib %ld ops %ld checksum %llu\n",
         (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
         ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
         ru.ru_maxrss, (long)threads * ops, (unsigned long long)sum);
  return 0;
}
