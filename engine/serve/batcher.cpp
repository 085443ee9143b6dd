#include "serve/batcher.h"

#include <algorithm>
#include <cstring>

namespace dl::serve {

Batcher::Batcher(std::vector<std::unique_ptr<Predictor>> predictors, int64_t max_batch,
                 std::chrono::microseconds timeout, BatchObserver observe)
    : max_batch_(max_batch),
      in_size_(predictors.at(0)->input_size()),
      out_size_(predictors.at(0)->output_size()),
      timeout_(timeout),
      observe_(std::move(observe)) {
    for (int64_t b = 1; b < max_batch_; b *= 2) buckets_.push_back(b);
    buckets_.push_back(max_batch_);
    for (auto & predictor : predictors) {
        auto lane = std::make_unique<Lane>();
        lane->predictor = std::move(predictor);
        lane->predictor->set_max_batch(max_batch_);
        lane->in.assign(static_cast<size_t>(max_batch_ * in_size_), 0.0f);
        lane->out.assign(static_cast<size_t>(max_batch_ * out_size_), 0.0f);
        for (int64_t b : buckets_) lane->predictor->predict(lane->in.data(), b, lane->out.data());
        free_.push_back(lane.get());
        lanes_.push_back(std::move(lane));
    }
    thread_ = std::thread([this] { loop(); });
}

Batcher::~Batcher() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void Batcher::predict(const float * rows, int64_t n, float * out) {
    Job job{.rows = rows, .n = n, .out = out, .queued = Clock::now()};
    std::unique_lock lock(mutex_);
    queue_.push_back(&job);
    queued_rows_ += n;
    if (timeout_.count() == 0 && !free_.empty()) {
        Lane * lane = free_.back();
        free_.pop_back();
        for (int extra = 0; !job.taken || (!queue_.empty() && extra++ < kExtraBatches);) {
            std::vector<Job *> jobs = take_batch();
            lock.unlock();
            run(*lane, jobs);
            lock.lock();
        }
        free_.push_back(lane);
        const bool more = !queue_.empty();
        lock.unlock();
        if (more) wake_.notify_one();
    } else {
        lock.unlock();
        wake_.notify_one();
    }
    job.done.acquire();
    if (job.error) std::rethrow_exception(job.error);
}

// The queue's first requests, up to max_batch rows (at least one request, however large). Under mutex_.
std::vector<Batcher::Job *> Batcher::take_batch() {
    std::vector<Job *> jobs;
    int64_t rows = 0;
    while (!queue_.empty() && (jobs.empty() || rows + queue_.front()->n <= max_batch_)) {
        Job * job = queue_.front();
        queue_.pop_front();
        rows += job->n;
        queued_rows_ -= job->n;
        job->taken = true;
        jobs.push_back(job);
    }
    return jobs;
}

void Batcher::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || (!queue_.empty() && !free_.empty()); });
        if (queue_.empty() || free_.empty()) return;  // stopping: no request holds this version any more
        Lane * lane = free_.back();
        free_.pop_back();
        if (timeout_.count() > 0)
            wake_.wait_until(lock, queue_.front()->queued + timeout_,
                             [&] { return stop_ || queued_rows_ >= max_batch_; });
        std::vector<Job *> jobs = take_batch();
        lock.unlock();
        run(*lane, jobs);
        lock.lock();
        free_.push_back(lane);
    }
}

// The rows of `jobs`, end to end, in chunks of at most max_batch rows, each padded up to its bucket.
void Batcher::run(Lane & lane, const std::vector<Job *> & jobs) {
    struct Cursor {
        size_t job = 0;
        int64_t row = 0;
    };
    // fn(job, first row in the job, first row in the chunk, rows) over the next `rows` rows from `at`.
    auto walk = [&](Cursor & at, int64_t rows, auto && fn) {
        for (int64_t done = 0; done < rows;) {
            Job * job = jobs[at.job];
            const int64_t take = std::min(job->n - at.row, rows - done);
            fn(*job, at.row, done, take);
            done += take;
            at.row += take;
            if (at.row == job->n) at = {at.job + 1, 0};
        }
    };
    const auto in_bytes = [&](int64_t rows) { return sizeof(float) * static_cast<size_t>(rows * in_size_); };
    const auto out_bytes = [&](int64_t rows) {
        return sizeof(float) * static_cast<size_t>(rows * out_size_);
    };
    try {
        int64_t total = 0;
        for (const Job * job : jobs) total += job->n;
        Cursor next;
        for (int64_t start = 0; start < total; start += max_batch_) {
            const int64_t rows = std::min(max_batch_, total - start);
            const int64_t bucket = *std::lower_bound(buckets_.begin(), buckets_.end(), rows);
            Cursor from = next;
            walk(next, rows, [&](Job & job, int64_t jr, int64_t cr, int64_t n) {
                std::memcpy(lane.in.data() + cr * in_size_, job.rows + jr * in_size_, in_bytes(n));
            });
            std::fill(lane.in.begin() + rows * in_size_, lane.in.begin() + bucket * in_size_, 0.0f);
            lane.predictor->predict(lane.in.data(), bucket, lane.out.data());
            observe_(rows);
            walk(from, rows, [&](Job & job, int64_t jr, int64_t cr, int64_t n) {
                std::memcpy(job.out + jr * out_size_, lane.out.data() + cr * out_size_, out_bytes(n));
            });
        }
    } catch (...) {
        for (Job * job : jobs) job->error = std::current_exception();
    }
    for (Job * job : jobs) job->done.release();
}

}  // namespace dl::serve
