#include "train/loader.h"

#include <cstring>

namespace dl {

BatchLoader::BatchLoader(const Table & table, const DataInfo & info, const AugmentSpec & augment,
                         uint64_t seed, int64_t max_batch)
    : table_(table),
      info_(info),
      augmenter_(augment, table.sample_shape, seed),
      x_(static_cast<size_t>(max_batch * table.num_features())),
      y_(info.classification ? 0 : static_cast<size_t>(max_batch * table.num_targets())),
      labels_(info.classification ? static_cast<size_t>(max_batch) : 0) {
    constexpr int64_t kThreadBytes = 64 << 10;
    on_caller_ = !augmenter_.active() && max_batch * table.num_features() * 4 < kThreadBytes;
    if (!on_caller_) thread_ = std::thread([this] { loop(); });
}

BatchLoader::~BatchLoader() {
    if (on_caller_) return;
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void BatchLoader::start(const std::vector<int64_t> & rows, int64_t begin, int64_t end, uint64_t step) {
    {
        std::lock_guard lock(mutex_);
        DL_ASSERT(!pending_ && !ready_);
        DL_ASSERT(end - begin <=
                  static_cast<int64_t>(x_.size()) / std::max<int64_t>(1, table_.num_features()));
        rows_ = &rows;
        begin_ = begin, end_ = end, step_ = step;
        pending_ = !on_caller_;
        ready_ = on_caller_;
    }
    if (!on_caller_) wake_.notify_one();
}

void BatchLoader::finish(Executor & ex) {
    {
        std::unique_lock lock(mutex_);
        done_.wait(lock, [&] { return ready_; });
        ready_ = false;
    }
    const int64_t n = end_ - begin_;
    TensorView x = ex.input("x"), y = ex.input("y");
    DL_ASSERT(x.shape[0] == n);
    if (on_caller_) {
        gather(x.f32(), info_.classification ? y.i32() : nullptr, info_.classification ? nullptr : y.f32());
        return;
    }
    std::memcpy(x.data, x_.data(), x.bytes());
    if (info_.classification)
        std::memcpy(y.data, labels_.data(), y.bytes());
    else
        std::memcpy(y.data, y_.data(), y.bytes());
}

void BatchLoader::gather(float * x, int32_t * labels, float * y) {
    const int64_t f = table_.num_features(), k = table_.num_targets();
    for (int64_t i = begin_; i < end_; ++i) {
        const int64_t row = (*rows_)[static_cast<size_t>(i)], slot = i - begin_;
        const float * src = table_.features.data() + row * f;
        float * dst = x + slot * f;
        if (augmenter_.active())
            augmenter_.apply(src, dst, step_, slot);
        else
            std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(f));
        if (info_.classification)
            labels[slot] = table_.labels[static_cast<size_t>(row)];
        else
            std::memcpy(y + slot * k, table_.targets.data() + row * k,
                        sizeof(float) * static_cast<size_t>(k));
    }
}

void BatchLoader::loop() {
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || pending_; });
            if (stop_) return;
        }
        gather(x_.data(), labels_.data(), y_.data());
        {
            std::lock_guard lock(mutex_);
            pending_ = false;
            ready_ = true;
        }
        done_.notify_one();
    }
}

}  // namespace dl
