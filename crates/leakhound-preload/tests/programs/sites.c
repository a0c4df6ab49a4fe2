// Three allocation sites with known behaviour, for the native profiler's tests:
//   leak_one    keeps 64 bytes per iteration (the leak: 64 * RATE bytes per second);
//   churn       allocates and frees 8 KiB blocks, CHURN per iteration (much more traffic);
//   cache_put   replaces one entry of a 256-entry cache of 2 KiB blocks (bounded).
// Iterations are paced by the clock at RATE per second for SECONDS. With `thread`, the loop
// runs in a worker thread. At the end it prints "leaked BYTES in SECONDS s". With LEAK=none
// leak_one frees its node at once (the no-leak twin).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double rate = 10000, seconds = 10;
static int churn_per_iteration = 4;

struct node { struct node *next; char pad[56]; };
static struct node *leaked;
static unsigned long leaked_bytes;
static char *cache[256];
static volatile unsigned long sink;
static int keep = 1;

__attribute__((noinline)) static void leak_one(unsigned long i) {
  struct node *n = malloc(sizeof *n);
  n->next = leaked;
  n->pad[0] = (char)i;
  if (!keep) {
    sink += (unsigned char)n->pad[0];
    free(n);
    return;
  }
  leaked = n;
  leaked_bytes += sizeof *n;
}

__attribute__((noinline)) static void churn(unsigned long i) {
  char *b = malloc(8192);
  memset(b, (int)i, 8192);
  sink += (unsigned char)b[i % 8192];
  free(b);
}

__attribute__((noinline)) static void cache_put(unsigned long i) {
  unsigned slot = (unsigned)((i * 2654435761u) % 256);
  free(cache[slot]);
  cache[slot] = malloc(2048);
  cache[slot][0] = (char)i;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void *work(void *arg) {
  (void)arg;
  double start = now();
  unsigned long i = 0;
  for (;;) {
    double t = now() - start;
    if (t >= seconds) break;
    unsigned long due = (unsigned long)(t * rate);
    for (; i < due; i++) {
      leak_one(i);
      for (int k = 0; k < churn_per_iteration; k++) churn(i + k);
      cache_put(i);
    }
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) seconds = atof(argv[1]);
  if (argc > 2) rate = atof(argv[2]);
  int threaded = argc > 3 && strcmp(argv[3], "thread") == 0;
  const char *mode = getenv("LEAK");
  keep = !(mode && strcmp(mode, "none") == 0);
  if (threaded) {
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    pthread_join(t, NULL);
  } else {
    work(NULL);
  }
  printf("leaked %lu in %.3f s\n", leaked_bytes, seconds);
  return 0;
}
