// Training batches prepared on a background thread: while step k runs, the rows of step k + 1 are gathered
// from the table (and augmented) into a staging buffer, so the engine does not wait on input. Batches of a
// few kilobytes without augmentation are gathered on the calling thread instead: handing them over would cost
// more than copying them (the housing example's whole step takes about a microsecond).
//   BatchLoader loader(table, info, spec.data.augment, spec.seed, batch);
//   loader.start(order, begin, end, step);     // begin gathering rows order[begin, end)
//   loader.finish(ex);                          // wait for them, copy them into the executor's "x" and "y"
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "data/augment.h"
#include "exec/executor.h"
#include "model/model.h"

namespace dl {

class BatchLoader {
public:
    BatchLoader(const Table & table, const DataInfo & info, const AugmentSpec & augment, uint64_t seed,
                int64_t max_batch);
    ~BatchLoader();
    BatchLoader(const BatchLoader &) = delete;
    BatchLoader & operator=(const BatchLoader &) = delete;

    // `rows` must stay alive and unchanged until finish().
    void start(const std::vector<int64_t> & rows, int64_t begin, int64_t end, uint64_t step);
    void finish(Executor & ex);

private:
    void gather(float * x, int32_t * labels, float * y);
    void loop();

    const Table & table_;
    DataInfo info_;
    Augmenter augmenter_;
    std::vector<float> x_, y_;
    std::vector<int32_t> labels_;
    // The batch being prepared.
    const std::vector<int64_t> * rows_ = nullptr;
    int64_t begin_ = 0, end_ = 0;
    uint64_t step_ = 0;
    bool pending_ = false, ready_ = false, stop_ = false;
    bool on_caller_ = false;  // small batches: gathered in finish(), no thread
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::thread thread_;
};

}  // namespace dl
