#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DL_CPU_RELAX() _mm_pause()
#else
#define DL_CPU_RELAX() ((void)0)
#endif

namespace dl {

namespace {
thread_local int t_worker_index = 0;

// Kernels come one after another with a few microseconds of serial work between them; a thread that went to
// sleep on a condition variable takes tens of microseconds to wake up, which cost the MLP's step a tenth of
// its time. So a waiting thread first spins this long, then sleeps.
constexpr auto kSpinFor = std::chrono::microseconds(200);

template <typename Ready>
bool spin_until(Ready && ready) {
    const auto until = std::chrono::steady_clock::now() + kSpinFor;
    for (int i = 1;; ++i) {
        if (ready()) return true;
        DL_CPU_RELAX();
        if (i % 64 == 0 && std::chrono::steady_clock::now() > until) return false;
    }
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
    for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stop_.store(true);
    }
    wake_.notify_all();
    for (auto & w : workers_) w.join();
}

int ThreadPool::hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

int ThreadPool::worker_index() { return t_worker_index; }

void ThreadPool::run_tasks() {
    for (int64_t t; (t = next_task_.fetch_add(1)) < job_tasks_;) job_(job_ctx_, t);
}

void ThreadPool::worker_loop(int index) {
    t_worker_index = index;
    uint64_t seen = 0;
    for (;;) {
        auto fresh = [&] {
            return stop_.load(std::memory_order_acquire) ||
                   generation_.load(std::memory_order_acquire) != seen;
        };
        if (!spin_until(fresh)) {
            std::unique_lock lock(mutex_);
            ++sleeping_;
            wake_.wait(lock, fresh);
            --sleeping_;
        }
        if (stop_.load()) return;
        seen = generation_.load(std::memory_order_acquire);
        run_tasks();
        if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard lock(mutex_);
            if (caller_sleeping_) done_.notify_one();
        }
    }
}

void ThreadPool::run(int64_t tasks, void (*call)(void *, int64_t), void * ctx) {
    if (tasks <= 0) return;
    if (workers_.empty() || tasks == 1) {
        for (int64_t t = 0; t < tasks; ++t) call(ctx, t);
        return;
    }
    job_ = call;
    job_ctx_ = ctx;
    job_tasks_ = tasks;
    next_task_.store(0);
    busy_.store(static_cast<int>(workers_.size()));
    {
        std::lock_guard lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
        if (sleeping_ > 0) wake_.notify_all();
    }
    run_tasks();
    auto finished = [&] { return busy_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(finished)) {
        std::unique_lock lock(mutex_);
        caller_sleeping_ = true;
        done_.wait(lock, finished);
        caller_sleeping_ = false;
    }
    job_ = nullptr;
}

}  // namespace dl
