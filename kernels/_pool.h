// A parallel loop over XLA's intra-op thread pool for parallax's FFI handlers.
//
// Parallel(pool, count, task) runs task(i) for every i in [0, count): the calling thread and
// tasks scheduled on the pool claim indices from a shared counter. The caller runs every index
// nobody has claimed, then waits only for indices already running elsewhere, so it never waits on
// work that is queued behind it (the handler may itself run on a pool thread, inside a loop
// body). State is shared by reference count: a pool task that starts after the loop finished
// finds no index left and only drops its reference.

#ifndef PARALLAX_KERNELS_POOL_H_
#define PARALLAX_KERNELS_POOL_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "xla/ffi/api/ffi.h"

namespace parallax {

inline void Parallel(xla::ffi::ThreadPool& pool, int64_t count,
                     std::function<void(int64_t)> task) {
  struct Shared {
    std::function<void(int64_t)> task;
    int64_t count = 0;
    std::atomic<int64_t> next{0}, done{0};
    void Work() {
      for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < count;) {
        task(i);
        done.fetch_add(1, std::memory_order_release);
      }
    }
  };
  if (count <= 0) return;
  auto shared = std::make_shared<Shared>();
  shared->task = std::move(task);
  shared->count = count;
  const int64_t helpers = std::min<int64_t>(count - 1, pool.num_threads());
  for (int64_t i = 0; i < helpers; ++i) pool.Schedule([shared] { shared->Work(); });
  shared->Work();
  while (shared->done.load(std::memory_order_acquire) < count) std::this_thread::yield();
}

}  // namespace parallax

#endif  // PARALLAX_KERNELS_POOL_H_
