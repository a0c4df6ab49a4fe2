// Leaks that only grouping stacks by function ranks right, for the tests of sites at the
// defaults:
//   asdf    keeps one `new int` (4 bytes) per iteration, reached by five call paths in turn;
//   twice   keeps 3 bytes per iteration on each of two call paths (6 bytes in all);
//   once    keeps 5 bytes per iteration on one path;
//   churn   allocates and frees 256 bytes per iteration.
// Ranked per stack, `once` (5 B) comes first; per function `twice` (6 B) does, then `once`,
// then `asdf`. Every allocation goes through operator new. ITERATIONS per second (default
// 100000) for SECONDS (default 60); with LEAK=none nothing is kept (the no-leak twin).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

namespace app {

static std::vector<void *> kept;
static bool leak = true;
static volatile unsigned long sink;

__attribute__((noinline)) void asdf() {
  int *p = new int(7);
  if (leak) kept.push_back(p); else delete p;
}
__attribute__((noinline)) void path0() { asdf(); }
__attribute__((noinline)) void path1() { asdf(); }
__attribute__((noinline)) void path2() { asdf(); }
__attribute__((noinline)) void path3() { asdf(); }
__attribute__((noinline)) void path4() { asdf(); }

__attribute__((noinline)) void twice() {
  char *p = new char[3];
  if (leak) kept.push_back(p); else delete[] p;
}
__attribute__((noinline)) void left() { twice(); }
__attribute__((noinline)) void right() { twice(); }

__attribute__((noinline)) void once() {
  char *p = new char[5];
  if (leak) kept.push_back(p); else delete[] p;
}

__attribute__((noinline)) void churn(unsigned long i) {
  char *b = new char[256];
  memset(b, (int)i, 256);
  sink += (unsigned char)b[i % 256];
  delete[] b;
}

}  // namespace app

static double now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 60;
  double rate = argc > 2 ? atof(argv[2]) : 100000;
  const char *l = getenv("LEAK");
  app::leak = !(l && strcmp(l, "none") == 0);
  // Room for every pointer kept, so the vector's own growth is not a leak of its own.
  app::kept.reserve(app::leak ? (size_t)(seconds * rate * 4 + 1024) : 0);
  void (*paths[5])() = {app::path0, app::path1, app::path2, app::path3, app::path4};
  double start = now();
  unsigned long i = 0;
  for (;;) {
    double t = now() - start;
    if (t >= seconds) break;
    unsigned long due = (unsigned long)(t * rate);
    for (; i < due; i++) {
      paths[i % 5]();
      app::left();
      app::right();
      app::once();
      app::churn(i);
    }
    timespec pause = {0, 1000000};
    nanosleep(&pause, nullptr);
  }
  printf("%lu iterations in %.3f s\n", i, seconds);
  return 0;
}
