// The C++ variant of sites.c: the same three sites with new/delete and the standard library.
//   Session::remember   keeps a 64-byte object per iteration (the leak);
//   churn               news and deletes 8 KiB buffers, CHURN per iteration;
//   Cache::put          replaces one of 256 entries of 2 KiB (bounded).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

namespace app {
struct Visitor { Visitor *next; char pad[56]; };

class Session {
 public:
  __attribute__((noinline)) void remember(unsigned long i) {
    Visitor *v = new Visitor;
    v->next = head_;
    v->pad[0] = static_cast<char>(i);
    head_ = v;
    bytes_ += sizeof(Visitor);
  }
  unsigned long bytes() const { return bytes_; }
 private:
  Visitor *head_ = nullptr;
  unsigned long bytes_ = 0;
};

class Cache {
 public:
  __attribute__((noinline)) void put(unsigned long i) {
    auto &slot = slots_[(i * 2654435761u) % slots_.size()];
    slot.reset(new char[2048]);
    slot[0] = static_cast<char>(i);
  }
 private:
  std::vector<std::unique_ptr<char[]>> slots_ = std::vector<std::unique_ptr<char[]>>(256);
};

volatile unsigned long sink;

__attribute__((noinline)) void churn(unsigned long i) {
  std::unique_ptr<char[]> b(new char[8192]);
  for (int k = 0; k < 8192; k += 64) b[k] = static_cast<char>(i + k);
  sink += static_cast<unsigned char>(b[i % 8192]);
}
}  // namespace app

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 10, rate = argc > 2 ? atof(argv[2]) : 10000;
  app::Session session;
  app::Cache cache;
  auto start = std::chrono::steady_clock::now();
  unsigned long i = 0;
  for (;;) {
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (t >= seconds) break;
    for (auto due = static_cast<unsigned long>(t * rate); i < due; i++) {
      session.remember(i);
      for (int k = 0; k < 4; k++) app::churn(i + k);
      cache.put(i);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::printf("leaked %lu in %.3f s\n", session.bytes(), seconds);
  return 0;
}
