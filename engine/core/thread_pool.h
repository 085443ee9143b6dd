// A small pool of worker threads for data-parallel kernels.
//   ThreadPool pool(2);
//   pool.parallel_for(num_tiles, [&](int64_t tile) { ... });   // the calling thread works too
// Work is always split into tiles whose size does not depend on the thread count, and each tile writes its
// own output, so results are bit-identical whatever the number of threads (Note [determinism]).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace dl {

class ThreadPool {
public:
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool & operator=(const ThreadPool &) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }
    // Calls fn(task) for task in [0, tasks); no allocation (a function pointer and a context, not
    // std::function).
    template <typename F>
    void parallel_for(int64_t tasks, F && fn) {
        using Fn = std::remove_reference_t<F>;
        run(
            tasks, [](void * ctx, int64_t t) { (*static_cast<Fn *>(ctx))(t); },
            const_cast<void *>(static_cast<const void *>(&fn)));
    }

    static int hardware_threads();
    // Which of the pool's threads runs the current task: 0 for the calling thread, 1..size()-1 for the
    // workers. Kernels use it to pick their own slice of a shared workspace.
    static int worker_index();

private:
    void run(int64_t tasks, void (*call)(void *, int64_t), void * ctx);
    void worker_loop(int index);
    void run_tasks();

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    void (*job_)(void *, int64_t) = nullptr;
    void * job_ctx_ = nullptr;
    int64_t job_tasks_ = 0;
    std::atomic<int64_t> next_task_{0};
    std::atomic<int> busy_{0};
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> stop_{false};
    int sleeping_ = 0;              // workers blocked on wake_ (guarded by mutex_)
    bool caller_sleeping_ = false;  // the caller blocked on done_ (guarded by mutex_)
};

}  // namespace dl
