// Dynamic batching (Note [serving model] in serve/model_server.h): each loaded version's queue of requests,
// merged into calls of at most max_batch rows on one of its Predictors. Internal to serve/.
//   Batcher b(std::move(predictors), 64, std::chrono::microseconds(0), [](int64_t rows) { ... });
//   b.predict(rows, n, out);   // from any thread: blocks until out[n * output_size] is written
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

#include "infer/predictor.h"

namespace dl::serve {

using Clock = std::chrono::steady_clock;

// Note [engine lanes]: a version has one or more lanes, each a Predictor with its own buffers, used by one
// thread at a time. One lane serialises every request of a version behind whichever thread holds it, and on a
// busy machine that thread is now and then preempted for a scheduler time slice (3-4 ms) with every request
// queued behind it. A second lane keeps requests moving then, and lets two requests of a compute-heavy model
// (the CNN) run at once on two cores. Lanes share the model's weights (tensors share their storage).
//
// Note [inline batches]: handing a lone request to the batcher thread and back costs two thread wake-ups,
// more than a small model's whole prediction (a housing request took 130 us this way, 50 us inline). So
// without a batch timeout, a request that finds a lane free runs the queue on it itself, its own rows among
// them; requests arriving meanwhile queue up and are merged into its next call. Once its own rows are taken
// it runs a few more batches while requests keep coming (a woken thread can wait a time slice too), then
// leaves what remains to the batcher thread. With a batch timeout, only the batcher thread runs batches: it
// waits for rows.
class Batcher {
public:
    using BatchObserver = std::function<void(int64_t rows)>;

    // Warms every lane at every bucket size (batch 1 first) before the thread starts, so a version is only
    // swapped in once it answers at full speed.
    Batcher(std::vector<std::unique_ptr<Predictor>> predictors, int64_t max_batch,
            std::chrono::microseconds timeout, BatchObserver observe);
    ~Batcher();

    // Read-only from any thread: a Predictor never changes its model.
    const TrainedModel & model() const { return lanes_[0]->predictor->model(); }

    // Blocks until the rows are answered: out[n * output_size] from rows[n * input_size].
    void predict(const float * rows, int64_t n, float * out);

private:
    static constexpr int kExtraBatches = 4;

    struct Job {
        const float * rows;
        int64_t n;
        float * out;
        Clock::time_point queued;
        bool taken = false;  // in a batch (under mutex_)
        std::exception_ptr error;
        std::binary_semaphore done{0};
    };

    struct Lane {
        std::unique_ptr<Predictor> predictor;
        std::vector<float> in, out;  // one padded chunk
    };

    std::vector<Job *> take_batch();
    void loop();
    void run(Lane & lane, const std::vector<Job *> & jobs);

    const int64_t max_batch_, in_size_, out_size_;
    const std::chrono::microseconds timeout_;
    BatchObserver observe_;
    std::vector<int64_t>
        buckets_;  // the batch sizes the engine runs: powers of two below max_batch, and max_batch
    std::vector<std::unique_ptr<Lane>> lanes_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job *> queue_;
    int64_t queued_rows_ = 0;
    std::vector<Lane *> free_;  // lanes no thread is running
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace dl::serve
