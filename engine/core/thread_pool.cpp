#include "core/thread_pool.h"

#include <algorithm>

namespace dl {

ThreadPool::ThreadPool(int threads) {
    for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto & w : workers_) w.join();
}

int ThreadPool::hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

void ThreadPool::run_tasks() {
    for (int64_t t; (t = next_task_.fetch_add(1)) < job_tasks_;) job_(job_ctx_, t);
}

void ThreadPool::worker_loop() {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
        }
        run_tasks();
        std::lock_guard lock(mutex_);
        if (--busy_ == 0) done_.notify_one();
    }
}

void ThreadPool::run(int64_t tasks, void (*call)(void *, int64_t), void * ctx) {
    if (tasks <= 0) return;
    if (workers_.empty() || tasks == 1) {
        for (int64_t t = 0; t < tasks; ++t) call(ctx, t);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        job_ = call;
        job_ctx_ = ctx;
        job_tasks_ = tasks;
        next_task_.store(0);
        busy_ = static_cast<int>(workers_.size());
        ++generation_;
    }
    wake_.notify_all();
    run_tasks();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    job_ = nullptr;
}

}  // namespace dl
