#include "serve/model_server.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <semaphore>
#include <set>
#include <span>
#include <thread>

#include "core/error.h"
#include "core/fs.h"
#include "core/json_limits.h"
#include "infer/instances.h"
#include "infer/predictor.h"
#include "model/bundle.h"
#include "serve/http_server.h"

namespace dl {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// -----------------------------------------------------------------------------------------------------------
// Errors a request causes, answered in TF Serving's shape: {"error": "..."} with an HTTP status.

struct HttpError : std::runtime_error {
    int status;
    std::string allow;  // for 405: the methods the resource takes
    HttpError(int status, const std::string & message, std::string allow = {})
        : std::runtime_error(message), status(status), allow(std::move(allow)) {}
};

template <typename... Args>
[[noreturn]] void reject(int status, fmt::format_string<Args...> format, Args &&... args) {
    throw HttpError(status, fmt::format(format, std::forward<Args>(args)...));
}

// Client-supplied text (keys, paths) may be invalid UTF-8: replaced, never a throw from dump().
template <typename J>
std::string dump(const J & j, int indent = -1) {
    return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string error_body(const std::string & message) { return dump(json{{"error", message}}); }

// -----------------------------------------------------------------------------------------------------------
// Prometheus metrics.

constexpr std::array kLatencyBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
constexpr std::array kBatchBounds = {1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0};

class Histogram {
public:
    explicit Histogram(std::span<const double> bounds) : bounds_(bounds), counts_(bounds.size(), 0) {}

    void observe(double v) {
        const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
        if (it != bounds_.end()) ++counts_[static_cast<size_t>(it - bounds_.begin())];
        sum_ += v;
        ++count_;
    }

    void write(std::string & out, std::string_view name, const std::string & labels) const {
        auto to = std::back_inserter(out);
        uint64_t cumulative = 0;
        for (size_t i = 0; i < bounds_.size(); ++i) {
            cumulative += counts_[i];
            fmt::format_to(to, "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bounds_[i], cumulative);
        }
        fmt::format_to(to, "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, count_);
        fmt::format_to(to, "{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, sum_, name, labels, count_);
    }

private:
    std::span<const double> bounds_;
    std::vector<uint64_t> counts_;
    double sum_ = 0;
    uint64_t count_ = 0;
};

// Series are keyed by model and version; version -1 is "none resolved" (an unknown version, a status call).
class ServeMetrics {
public:
    using Key = std::pair<std::string, int64_t>;

    void count_request(const std::string & model, int64_t version, const std::string & method, int code,
                       double seconds) {
        std::lock_guard lock(mutex_);
        ++requests_[{model, version, method, code}];
        if (code >= 400) ++errors_[{model, version}];
        if (method == "predict" && code < 400)
            latency_.try_emplace({model, version}, kLatencyBounds).first->second.observe(seconds);
    }

    void observe_batch(const std::string & model, int64_t version, int64_t rows) {
        std::lock_guard lock(mutex_);
        batch_.try_emplace({model, version}, kBatchBounds).first->second.observe(static_cast<double>(rows));
    }

    // `loaded`: model name -> number of loaded versions, sampled by the caller.
    std::string render(const std::map<std::string, size_t> & loaded) const {
        std::string out;
        auto to = std::back_inserter(out);
        std::lock_guard lock(mutex_);
        out +=
            "# HELP dlctl_serve_requests_total Requests to /v1/models by model, version, method and HTTP "
            "status.\n"
            "# TYPE dlctl_serve_requests_total counter\n";
        for (const auto & [key, n] : requests_) {
            const auto & [model, version, method, code] = key;
            fmt::format_to(to, "dlctl_serve_requests_total{{{},method=\"{}\",code=\"{}\"}} {}\n",
                           labels(model, version), method, code, n);
        }
        out +=
            "# HELP dlctl_serve_request_errors_total Requests to /v1/models answered with a status of 400 or "
            "more.\n"
            "# TYPE dlctl_serve_request_errors_total counter\n";
        for (const auto & [key, n] : errors_)
            fmt::format_to(to, "dlctl_serve_request_errors_total{{{}}} {}\n", labels(key.first, key.second),
                           n);
        out +=
            "# HELP dlctl_serve_request_duration_seconds Time to answer a successful predict request, from "
            "its "
            "body read to its reply built.\n"
            "# TYPE dlctl_serve_request_duration_seconds histogram\n";
        for (const auto & [key, h] : latency_)
            h.write(out, "dlctl_serve_request_duration_seconds", labels(key.first, key.second));
        out +=
            "# HELP dlctl_serve_batch_size Rows per engine call after dynamic batching.\n"
            "# TYPE dlctl_serve_batch_size histogram\n";
        for (const auto & [key, h] : batch_)
            h.write(out, "dlctl_serve_batch_size", labels(key.first, key.second));
        out +=
            "# HELP dlctl_serve_loaded_versions Versions of a model loaded and serving.\n"
            "# TYPE dlctl_serve_loaded_versions gauge\n";
        for (const auto & [model, n] : loaded)
            fmt::format_to(to, "dlctl_serve_loaded_versions{{model=\"{}\"}} {}\n", model, n);
        return out;
    }

private:
    // Model names are checked at start-up ([A-Za-z0-9._-]) and versions are numbers: nothing to escape.
    static std::string labels(const std::string & model, int64_t version) {
        return fmt::format("model=\"{}\",version=\"{}\"", model,
                           version < 0 ? std::string() : std::to_string(version));
    }

    mutable std::mutex mutex_;
    std::map<std::tuple<std::string, int64_t, std::string, int>, uint64_t> requests_;
    std::map<Key, uint64_t> errors_;
    std::map<Key, Histogram> latency_, batch_;
};

// -----------------------------------------------------------------------------------------------------------
// Dynamic batching (Note [serving model]).

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

    ~Batcher() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }

    // Read-only from any thread: a Predictor never changes its model.
    const TrainedModel & model() const { return lanes_[0]->predictor->model(); }

    // Blocks until the rows are answered: out[n * output_size] from rows[n * input_size].
    void predict(const float * rows, int64_t n, float * out) {
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

    // The queue's first requests, up to max_batch rows (at least one request, however large). Under mutex_.
    std::vector<Job *> take_batch() {
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

    void loop() {
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
    void run(Lane & lane, const std::vector<Job *> & jobs) {
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
        const auto in_bytes = [&](int64_t rows) {
            return sizeof(float) * static_cast<size_t>(rows * in_size_);
        };
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

// -----------------------------------------------------------------------------------------------------------
// Loaded versions and the per-model snapshot.

// Identifies the dlctl.h5 a version was loaded from: a re-export swaps the directory and changes it.
struct FileStamp {
    int64_t mtime_ns = 0, size = -1;
    uint64_t inode = 0;
    bool operator==(const FileStamp &) const = default;
};

FileStamp stamp_of(const std::string & path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return {.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
            .size = static_cast<int64_t>(st.st_size),
            .inode = static_cast<uint64_t>(st.st_ino)};
}

struct LoadedVersion {
    int64_t version = 0;
    std::string dir;
    FileStamp stamp;
    int64_t input_size = 0, output_size = 0;
    bool classifier = false;
    std::vector<std::string> features;
    std::vector<std::string> quoted_labels;  // class names as JSON strings
    std::string metadata;                    // the /metadata reply
    std::unique_ptr<Batcher> batcher;
};

struct ModelState {
    std::map<int64_t, std::shared_ptr<const LoadedVersion>> versions;
    std::map<int64_t, std::string> refused;  // version -> why its directory was not loaded
    std::map<std::string, int64_t> labels;   // each points at a loaded version
};

struct ServedModel {
    std::string name, base_dir;
    std::map<std::string, int64_t> flag_labels;  // --label, over labels.json

    std::shared_ptr<const ModelState> snapshot() const {
        std::lock_guard lock(mutex);
        return state;
    }
    void publish(std::shared_ptr<const ModelState> next) {
        std::lock_guard lock(mutex);
        state = std::move(next);
    }

    mutable std::mutex mutex;
    std::shared_ptr<const ModelState> state = std::make_shared<ModelState>();
    std::atomic<uint64_t> unlabelled{0};  // unlabelled requests split by the canary rule

    // The watcher's own bookkeeping (only its thread touches these).
    struct Refusal {
        FileStamp stamp;
        std::string why;
    };
    std::map<std::string, Refusal> refusals;  // version directory -> the dlctl.h5 refused, logged once
    std::string labels_text;                  // labels.json as last read
    std::map<std::string, int64_t> file_labels;
    std::set<std::string> logged;  // label problems already logged
};

const char * tf_dtype(const std::string & dtype) {
    if (dtype == "float32") return "DT_FLOAT";
    if (dtype == "string") return "DT_STRING";
    if (dtype == "int64") return "DT_INT64";
    if (dtype == "int32") return "DT_INT32";
    return "DT_INVALID";
}

ojson tensor_info(const ojson & tensor) {
    ojson dims = ojson::array();
    for (const auto & size : tensor.at("shape"))
        dims.push_back({{"size", std::to_string(size.get<int64_t>())}, {"name", ""}});
    return {{"dtype", tf_dtype(tensor.value("dtype", ""))},
            {"tensor_shape", {{"dim", dims}, {"unknown_rank", false}}},
            {"name", tensor.value("name", "") + ":0"}};
}

// TF Serving's GetModelMetadata reply: model_spec, and metadata.signature_def built from signature.json,
// beside the signature itself (column and label names, metrics).
std::string metadata_reply(const std::string & model, int64_t version, const ojson & signature) {
    ojson inputs = ojson::object(), outputs = ojson::object();
    for (const auto & t : signature.at("inputs")) inputs[t.at("name").get<std::string>()] = tensor_info(t);
    for (const auto & t : signature.at("outputs")) outputs[t.at("name").get<std::string>()] = tensor_info(t);
    ojson def = {{"inputs", inputs}, {"outputs", outputs}, {"method_name", "tensorflow/serving/predict"}};
    ojson reply;
    reply["model_spec"] = {{"name", model}, {"signature_name", ""}, {"version", std::to_string(version)}};
    reply["metadata"]["signature_def"]["signature_def"]["serving_default"] = def;
    reply["metadata"]["signature"] = signature;
    return dump(reply, 1);
}

std::shared_ptr<LoadedVersion> load_version(const std::string & model, int64_t version,
                                            const std::string & dir, const FileStamp & stamp,
                                            const ServeOptions & options, ServeMetrics & metrics) {
    TrainedModel trained = load_bundle(dir);
    ojson signature;
    const std::string signature_path = dir + "/signature.json";
    if (file_exists(signature_path)) {
        try {
            signature = parse_json_bounded<ojson>(read_file(signature_path), signature_path,
                                                  {.max_bytes = 1 << 20, .max_depth = 8});
            signature.at("inputs").at(0);
            signature.at("outputs").at(0);
        } catch (const json::exception & e) {
            throw Error(ExitCode::bad_input, fmt::format("{}: {}", signature_path, e.what()));
        }
    } else {
        signature = make_signature(trained, json::object());
    }
    auto v = std::make_shared<LoadedVersion>();
    v->version = version;
    v->dir = dir;
    v->stamp = stamp;
    v->classifier = trained.info.classification;
    v->features = trained.features;
    for (const std::string & c : trained.classes) v->quoted_labels.push_back(dump(json(c)));
    try {
        v->metadata = metadata_reply(model, version, signature);
    } catch (const json::exception & e) {
        throw Error(ExitCode::bad_input, fmt::format("{}: {}", signature_path, json_error_text(e)));
    }
    std::vector<std::unique_ptr<Predictor>> lanes;
    for (int i = 1; i < options.engine_lanes; ++i)
        lanes.push_back(std::make_unique<Predictor>(trained, options.engine_threads));
    lanes.push_back(std::make_unique<Predictor>(std::move(trained), options.engine_threads));
    v->input_size = lanes[0]->input_size();
    v->output_size = lanes[0]->output_size();
    DL_CHECK(!v->classifier || static_cast<int64_t>(v->quoted_labels.size()) == v->output_size,
             ExitCode::bad_input, "{}: {} label names for {} classes", dir, v->quoted_labels.size(),
             v->output_size);
    v->batcher = std::make_unique<Batcher>(
        std::move(lanes), options.max_batch, std::chrono::microseconds(options.batch_timeout_us),
        [&metrics, model, version](int64_t rows) { metrics.observe_batch(model, version, rows); });
    return v;
}

// -----------------------------------------------------------------------------------------------------------
// Request bodies: TF Serving's row ("instances") and columnar ("inputs") formats, to rows of float32 values.

// Each instance goes through instance_to_row, as `dlctl predict`'s JSON lines do: the same shapes are
// accepted and the same things said about the others.
class RowsReader {
public:
    explicit RowsReader(const LoadedVersion & v) : v_(v), model_(v.batcher->model()) {}

    void rows_format(const json & instances) {
        if (!instances.is_array()) reject(400, "\"instances\" must be a list, got {}", instances.type_name());
        for (size_t i = 0; i < instances.size(); ++i) instance(instances[i], fmt::format("instances[{}]", i));
    }

    // "inputs": a batch (a list of instances), {"input": batch}, or for tabular models {feature: [values]}.
    void columnar_format(const json & inputs) {
        if (inputs.is_object() && !inputs.contains(kInputName) && !v_.features.empty())
            return feature_columns(inputs);
        const json & batch = inputs.is_object() && inputs.contains(kInputName) ? inputs[kInputName] : inputs;
        if (!batch.is_array())
            reject(400, "\"inputs\" must be a list of instances{}",
                   v_.features.empty() ? "" : " or an object of feature columns");
        for (size_t i = 0; i < batch.size(); ++i) instance(batch[i], fmt::format("inputs[{}]", i));
    }

    int64_t rows() const { return static_cast<int64_t>(values_.size()) / v_.input_size; }
    const std::vector<float> & values() const { return values_; }

private:
    void instance(const json & x, const std::string & where) {
        const size_t at = values_.size();
        values_.resize(at + static_cast<size_t>(v_.input_size));
        std::string why;
        if (!instance_to_row(x, model_, values_.data() + at, why)) reject(400, "{}: {}", where, why);
    }

    void feature_columns(const json & inputs) {
        const int64_t f = v_.input_size;
        int64_t n = -1;
        std::vector<float> rows;
        for (int64_t j = 0; j < f; ++j) {
            const std::string & name = v_.features[static_cast<size_t>(j)];
            const auto it = inputs.find(name);
            if (it == inputs.end()) reject(400, "inputs: no value for feature '{}'", name);
            const int64_t len = it->is_array() ? static_cast<int64_t>(it->size()) : 1;
            if (n < 0) {
                n = len;
                rows.resize(static_cast<size_t>(n * f));
            } else if (len != n) {
                reject(400, "inputs: feature '{}' has {} values, the one before {}", name, len, n);
            }
            for (int64_t r = 0; r < n; ++r) {
                const json & x = it->is_array() ? (*it)[static_cast<size_t>(r)] : *it;
                std::string why;
                if (!json_to_float(x, rows[static_cast<size_t>(r * f + j)], why))
                    reject(400, "inputs: feature '{}'[{}]: {}", name, r, why);
            }
        }
        values_.insert(values_.end(), rows.begin(), rows.end());
    }

    const LoadedVersion & v_;
    const TrainedModel & model_;
    std::vector<float> values_;
};

// Non-finite values as TF Serving writes them (NaN, Infinity, -Infinity), which its clients read back.
void append_number(std::string & out, float v) {
    if (std::isfinite(v))
        fmt::format_to(std::back_inserter(out), "{}", v);
    else
        out += std::isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
}

void append_row(std::string & out, const float * row, int64_t n) {
    out += '[';
    for (int64_t j = 0; j < n; ++j) {
        if (j) out += ", ";
        append_number(out, row[j]);
    }
    out += ']';
}

const std::string & label_of(const LoadedVersion & v, const float * probabilities) {
    return v.quoted_labels[static_cast<size_t>(
        std::max_element(probabilities, probabilities + v.output_size) - probabilities)];
}

// Rows: {"predictions": [row, ...]}, a row being [values] or {"probabilities": [...], "label": "name"}.
// Columnar: {"outputs": [[values], ...]} or {"outputs": {"probabilities": [[...], ...], "label": [...]}}.
std::string prediction_reply(const LoadedVersion & v, const std::vector<float> & out, int64_t n,
                             bool columnar) {
    const int64_t k = v.output_size;
    std::string s;
    s.reserve(static_cast<size_t>(32 + n * k * 12));
    s += columnar ? "{\"outputs\": " : "{\"predictions\": ";
    if (!v.classifier) {
        s += '[';
        for (int64_t i = 0; i < n; ++i) {
            if (i) s += ", ";
            append_row(s, out.data() + i * k, k);
        }
        s += ']';
    } else if (!columnar) {
        s += '[';
        for (int64_t i = 0; i < n; ++i) {
            if (i) s += ", ";
            s += "{\"probabilities\": ";
            append_row(s, out.data() + i * k, k);
            s += ", \"label\": ";
            s += label_of(v, out.data() + i * k);
            s += '}';
        }
        s += ']';
    } else {
        s += "{\"probabilities\": [";
        for (int64_t i = 0; i < n; ++i) {
            if (i) s += ", ";
            append_row(s, out.data() + i * k, k);
        }
        s += "], \"label\": [";
        for (int64_t i = 0; i < n; ++i) {
            if (i) s += ", ";
            s += label_of(v, out.data() + i * k);
        }
        s += "]}";
    }
    s += "}\n";
    return s;
}

// TF Serving's Classify and Regress APIs: {"context": {...}, "examples": [{feature: value, ...}, ...]}, each
// example merged over the context, answered {"results": [[[label, score], ...], ...]} or {"results": [value,
// ...]}.
void classify_or_regress(const json & body, const LoadedVersion & v, bool classify, std::string & reply) {
    for (const auto & [key, value] : body.items())
        if (key != "examples" && key != "context" && key != "signature_name")
            reject(
                400,
                "unknown field \"{}\" (a {} request takes \"examples\", \"context\" and \"signature_name\")",
                key, classify ? "classify" : "regress");
    if (classify && !v.classifier)
        reject(400, "this model is a regression model: use :regress or :predict, not :classify");
    if (!classify && (v.classifier || v.output_size != 1))
        reject(400, "{}: use :classify or :predict, not :regress",
               v.classifier ? "this model is a classifier" : "this model has more than one output");
    const auto examples = body.find("examples");
    if (examples == body.end() || !examples->is_array() || examples->empty())
        reject(400, "\"examples\" must be a non-empty list of objects, e.g. [{{\"feature\": 1.5}}]");
    const auto context = body.find("context");
    if (context != body.end() && !context->is_object())
        reject(400, "\"context\" must be an object of features");
    const int64_t n = static_cast<int64_t>(examples->size());
    std::vector<float> rows(static_cast<size_t>(n * v.input_size));
    for (int64_t i = 0; i < n; ++i) {
        const json & example = (*examples)[static_cast<size_t>(i)];
        if (!example.is_object()) reject(400, "examples[{}]: an example is an object of features", i);
        json merged = context != body.end() ? *context : json::object();
        for (const auto & [key, value] : example.items()) merged[key] = value;
        std::string why;
        if (!instance_to_row(merged, v.batcher->model(), rows.data() + i * v.input_size, why))
            reject(400, "examples[{}]: {}", i, why);
    }
    std::vector<float> out(static_cast<size_t>(n * v.output_size));
    v.batcher->predict(rows.data(), n, out.data());
    reply = "{\"results\": [";
    for (int64_t i = 0; i < n; ++i) {
        if (i) reply += ", ";
        if (!classify) {
            append_number(reply, out[static_cast<size_t>(i)]);
            continue;
        }
        reply += '[';
        for (int64_t k = 0; k < v.output_size; ++k) {
            if (k) reply += ", ";
            reply += '[';
            reply += v.quoted_labels[static_cast<size_t>(k)];
            reply += ", ";
            append_number(reply, out[static_cast<size_t>(i * v.output_size + k)]);
            reply += ']';
        }
        reply += ']';
    }
    reply += "]}\n";
}

// -----------------------------------------------------------------------------------------------------------
// Paths: /v1/models/<name>[/versions/<N>|/labels/<L>][/metadata|:predict|:classify|:regress] As in TF
// Serving's handler (its regexes are case-insensitive), "v1", "models", "versions", "labels", "metadata" and
// the verb may be in any case; the model name and label are matched as written.

struct Route {
    std::string model;
    enum class Selector { none, version, label } selector = Selector::none;
    std::string selected;  // the version number or label
    enum class Kind { status, metadata, predict, classify, regress } kind = Kind::status;
};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::optional<Route> parse_route(std::string_view path) {
    constexpr std::string_view prefix = "/v1/models/";
    if (path.size() < prefix.size() || !equals_ignoring_case(path.substr(0, prefix.size()), prefix))
        return std::nullopt;
    path.remove_prefix(prefix.size());
    Route r;
    if (const size_t colon = path.find(':'); colon != std::string_view::npos) {
        const std::string_view verb = path.substr(colon + 1);
        if (equals_ignoring_case(verb, "predict"))
            r.kind = Route::Kind::predict;
        else if (equals_ignoring_case(verb, "classify"))
            r.kind = Route::Kind::classify;
        else if (equals_ignoring_case(verb, "regress"))
            r.kind = Route::Kind::regress;
        else
            return std::nullopt;
        path = path.substr(0, colon);
    }
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
        const size_t slash = path.find('/', start);
        parts.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
        if (parts.size() > 4) return std::nullopt;
    }
    if (equals_ignoring_case(parts.back(), "metadata") && r.kind == Route::Kind::status && parts.size() > 1) {
        r.kind = Route::Kind::metadata;
        parts.pop_back();
    }
    if (parts.size() == 3 &&
        (equals_ignoring_case(parts[1], "versions") || equals_ignoring_case(parts[1], "labels"))) {
        r.selector =
            equals_ignoring_case(parts[1], "versions") ? Route::Selector::version : Route::Selector::label;
        r.selected = parts[2];
    } else if (parts.size() != 1) {
        return std::nullopt;
    }
    r.model = parts[0];
    if (r.model.empty() || (r.selector != Route::Selector::none && r.selected.empty())) return std::nullopt;
    return r;
}

std::string replace_all(std::string text, const std::string & from, const std::string & to) {
    for (size_t at = text.find(from); !from.empty() && at != std::string::npos;
         at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

bool is_number_text(std::string_view s) {
    return !s.empty() && s.size() <= 18 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_name(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

// Stable across processes and platforms (std::hash is neither): FNV-1a, then splitmix64's finaliser.
uint64_t request_id_hash(std::string_view id) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

std::string join_versions(const ModelState & s) {
    std::vector<int64_t> v;
    for (const auto & [version, loaded] : s.versions) v.push_back(version);
    return fmt::format("[{}]", fmt::join(v, ", "));
}

}  // namespace

// -----------------------------------------------------------------------------------------------------------

struct ModelServer::Impl {
    explicit Impl(ServeOptions o);

    void log(LogLevel level, const std::string & line) const {
        if (options.log) options.log(level, line);
    }

    void handle(const HttpRequest & req, HttpResponse & res);
    void dispatch(const HttpRequest & req, HttpResponse & res, std::string & model, int64_t & version,
                  std::string & method);
    void serve_v1(const HttpRequest & req, HttpResponse & res, const Route & route, ServedModel & m,
                  int64_t & version);
    std::shared_ptr<const LoadedVersion> resolve(const HttpRequest & req, const Route & route,
                                                 ServedModel & m, const ModelState & s) const;
    bool ready() const;

    void watch();
    void scan(ServedModel & m);
    std::map<std::string, int64_t> read_labels(ServedModel & m);
    void log_once(ServedModel & m, const std::string & key, LogLevel level, const std::string & line);

    ServeOptions options;
    std::unique_ptr<HttpServer> http;
    int port = 0;
    ServeMetrics metrics;
    std::vector<std::unique_ptr<ServedModel>> models;
    std::map<std::string, ServedModel *, std::less<>> by_name;

    std::mutex stop_mutex;
    std::condition_variable stop_changed;
    bool stop_requested = false;
};

ModelServer::Impl::Impl(ServeOptions o) : options(std::move(o)) {
    const ServeOptions & op = options;
    DL_CHECK(!op.model_dirs.empty(), ExitCode::usage, "serve: no model directory given");
    DL_CHECK(op.max_batch >= 1, ExitCode::usage, "--max-batch must be at least 1, got {}", op.max_batch);
    DL_CHECK(op.batch_timeout_us >= 0, ExitCode::usage, "--batch-timeout-us must be 0 or more, got {}",
             op.batch_timeout_us);
    DL_CHECK(op.http_threads >= 1 && op.engine_threads >= 1 && op.engine_lanes >= 1, ExitCode::usage,
             "--threads, --engine-lanes and --engine-threads must be at least 1");
    DL_CHECK(op.canary_percent >= 0 && op.canary_percent <= 100, ExitCode::usage,
             "--canary-percent must be in [0, 100], got {}", op.canary_percent);
    DL_CHECK(op.poll_ms >= 1, ExitCode::usage, "--poll-ms must be at least 1, got {}", op.poll_ms);
    DL_CHECK(op.max_body_bytes >= 1, ExitCode::usage, "--max-body-mb must be positive");
    DL_CHECK(op.timeout_s >= 1, ExitCode::usage, "--timeout-s must be at least 1, got {}", op.timeout_s);
    DL_CHECK(op.port >= 0 && op.port <= 65535, ExitCode::usage, "--port must be in [0, 65535], got {}",
             op.port);

    for (const std::string & dir : op.model_dirs) {
        fs::path base = fs::absolute(dir).lexically_normal();
        if (base.filename().empty()) base = base.parent_path();
        std::error_code ec;
        if (!fs::is_directory(base, ec))
            throw Error(ExitCode::missing_input, fmt::format("{}: no such directory", dir));
        const std::string name = base.filename().string();
        if (is_number_text(name) && file_exists((base / "dlctl.h5").string()))
            throw Error(ExitCode::usage,
                        fmt::format("{}: a version directory; serve takes the model's base directory, {}",
                                    dir, base.parent_path().string()));
        DL_CHECK(is_name(name), ExitCode::usage,
                 "{}: '{}' cannot be a model name (letters, digits, '.', '_', '-')", dir, name);
        DL_CHECK(!by_name.contains(name), ExitCode::usage, "serve: two model directories named '{}'", name);
        auto m = std::make_unique<ServedModel>();
        m->name = name;
        m->base_dir = base.string();
        by_name[name] = m.get();
        models.push_back(std::move(m));
    }
    for (const std::string & spec : op.labels) {
        const size_t eq = spec.find('='), colon = spec.find(':');
        const bool scoped = colon != std::string::npos && colon < eq;
        const std::string label =
            spec.substr(scoped ? colon + 1 : 0, eq == std::string::npos ? eq : eq - (scoped ? colon + 1 : 0));
        const std::string version = eq == std::string::npos ? "" : spec.substr(eq + 1);
        DL_CHECK(eq != std::string::npos && is_name(label) && is_number_text(version), ExitCode::usage,
                 "--label '{}': expected [MODEL:]LABEL=VERSION, e.g. stable=1 or housing:canary=2", spec);
        if (scoped) {
            const std::string model = spec.substr(0, colon);
            DL_CHECK(by_name.contains(model), ExitCode::usage, "--label '{}': no served model '{}'", spec,
                     model);
            by_name[model]->flag_labels[label] = std::stoll(version);
        } else {
            for (auto & m : models) m->flag_labels[label] = std::stoll(version);
        }
    }

    HttpServerOptions http_options{
        .host = op.host,
        .port = op.port,
        .workers = op.http_threads,
        .limits = {.max_body_bytes = static_cast<size_t>(op.max_body_bytes)},
        .request_timeout = std::chrono::seconds(op.timeout_s),
        .idle_timeout = std::chrono::seconds(std::max(op.timeout_s, 30)),
    };
    http = std::make_unique<HttpServer>(
        std::move(http_options), [this](const HttpRequest & req, HttpResponse & res) { handle(req, res); },
        [](int, const std::string & message) { return error_body(message); });
    port = http->port();
}

void ModelServer::Impl::handle(const HttpRequest & req, HttpResponse & res) {
    const auto start = Clock::now();
    std::string model, method;
    int64_t version = -1;
    try {
        dispatch(req, res, model, version, method);
    } catch (const HttpError & e) {
        res.status = e.status;
        if (!e.allow.empty()) res.set_header("Allow", e.allow);
        res.body = error_body(e.what());
    } catch (const std::exception & e) {
        res.status = 500;
        res.body = error_body(e.what());
    }
    if ((method == "predict" || method == "classify" || method == "regress") && version >= 0)
        res.set_header("X-Model-Version", std::to_string(version));
    if (!method.empty())
        metrics.count_request(model, version, method, res.status,
                              std::chrono::duration<double>(Clock::now() - start).count());
}

bool ModelServer::Impl::ready() const {
    return std::all_of(models.begin(), models.end(),
                       [](const auto & m) { return !m->snapshot()->versions.empty(); });
}

void ModelServer::Impl::dispatch(const HttpRequest & req, HttpResponse & res, std::string & model,
                                 int64_t & version, std::string & method) {
    const std::string & path = req.path;
    const bool get = req.method == "GET" || req.method == "HEAD";
    auto only = [&](bool allowed, const char * allow) {
        if (!allowed)
            throw HttpError(405, fmt::format("{} does not take {}; use {}", path, req.method, allow), allow);
    };
    if (path == "/healthz") {
        only(get, "GET");
        res.body = "{\"status\": \"ok\"}\n";
        return;
    }
    if (path == "/readyz") {
        only(get, "GET");
        ojson reply = {{"ready", ready()}};
        for (const auto & m : models) {
            ojson versions = ojson::array();
            for (const auto & [v, loaded] : m->snapshot()->versions) versions.push_back(v);
            reply["models"][m->name] = versions;
        }
        res.status = reply["ready"].get<bool>() ? 200 : 503;
        res.body = dump(reply) + "\n";
        return;
    }
    if (path == "/metrics") {
        only(get, "GET");
        std::map<std::string, size_t> loaded;
        for (const auto & m : models) loaded[m->name] = m->snapshot()->versions.size();
        res.body = metrics.render(loaded);
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        return;
    }
    if (options.bench_static_route && path == "/bench/static") {
        only(get || req.method == "POST", "GET, POST");
        res.body = "{\"predictions\": [[0.5]]}\n";
        return;
    }
    const std::optional<Route> route = parse_route(path);
    if (!route)
        reject(404,
               "no such resource: {} (the API is "
               "/v1/models/NAME[/versions/N|/labels/L][/metadata|:predict|:classify|:regress])",
               path.substr(0, 200));
    const bool inference = route->kind == Route::Kind::predict || route->kind == Route::Kind::classify ||
                           route->kind == Route::Kind::regress;
    method = route->kind == Route::Kind::predict    ? "predict"
             : route->kind == Route::Kind::classify ? "classify"
             : route->kind == Route::Kind::regress  ? "regress"
             : route->kind == Route::Kind::metadata ? "metadata"
                                                    : "status";
    const auto it = by_name.find(route->model);
    if (it == by_name.end()) {
        std::vector<std::string> names;
        for (const auto & m : models) names.push_back(m->name);
        reject(404, "Servable not found: no model '{}' (serving {})", route->model, fmt::join(names, ", "));
    }
    model = it->second->name;
    if (inference)
        only(req.method == "POST", "POST");
    else
        only(get, "GET");
    serve_v1(req, res, *route, *it->second, version);
}

std::shared_ptr<const LoadedVersion> ModelServer::Impl::resolve(const HttpRequest & req, const Route & route,
                                                                ServedModel & m, const ModelState & s) const {
    if (route.selector == Route::Selector::version) {
        if (!is_number_text(route.selected)) reject(400, "version '{}' is not a number", route.selected);
        const int64_t v = std::stoll(route.selected);
        if (const auto it = s.versions.find(v); it != s.versions.end()) return it->second;
        if (const auto it = s.refused.find(v); it != s.refused.end())
            reject(404, "{} version {} failed to load: {}", m.name, v, it->second);
        reject(404, "{} has no version {} (loaded: {})", m.name, v, join_versions(s));
    }
    if (route.selector == Route::Selector::label) {
        if (const auto it = s.labels.find(route.selected); it != s.labels.end())
            return s.versions.at(it->second);
        std::vector<std::string> labels;
        for (const auto & [label, v] : s.labels) labels.push_back(label);
        reject(404, "{} has no label '{}' (labels: {})", m.name, route.selected,
               labels.empty() ? "none" : fmt::format("{}", fmt::join(labels, ", ")));
    }
    if (s.versions.empty()) reject(503, "{} has no version loaded yet", m.name);
    auto labelled = [&](const char * label) -> std::shared_ptr<const LoadedVersion> {
        const auto it = s.labels.find(label);
        return it == s.labels.end() ? nullptr : s.versions.at(it->second);
    };
    std::shared_ptr<const LoadedVersion> stable = labelled("stable");
    if (!stable) stable = s.versions.rbegin()->second;  // TF Serving's default: the newest version
    if (options.canary_percent > 0 && route.kind != Route::Kind::status &&
        route.kind != Route::Kind::metadata) {
        if (auto canary = labelled("canary")) {
            const auto basis_points = static_cast<uint64_t>(std::llround(options.canary_percent * 100));
            bool to_canary;
            if (const std::string * id = req.header("x-request-id")) {
                to_canary = request_id_hash(*id) % 10000 < basis_points;
            } else {
                // The n-th request goes to the canary when floor(n * p) steps up: exactly p of any run of
                // requests (within one), with the canary's requests spread evenly rather than in bursts.
                const uint64_t n = m.unlabelled.fetch_add(1, std::memory_order_relaxed);
                to_canary = (n + 1) * basis_points / 10000 > n * basis_points / 10000;
            }
            if (to_canary) return canary;
        }
    }
    return stable;
}

void ModelServer::Impl::serve_v1(const HttpRequest & req, HttpResponse & res, const Route & route,
                                 ServedModel & m, int64_t & version) {
    const std::shared_ptr<const ModelState> s = m.snapshot();
    auto status_entry = [](int64_t v, const char * state, const char * code, const std::string & message) {
        return ojson{{"version", std::to_string(v)},
                     {"state", state},
                     {"status", {{"error_code", code}, {"error_message", message}}}};
    };
    if (route.kind == Route::Kind::status) {
        ojson list = ojson::array();
        if (route.selector == Route::Selector::version && is_number_text(route.selected) &&
            s->refused.contains(std::stoll(route.selected)) &&
            !s->versions.contains(std::stoll(route.selected))) {
            version = std::stoll(route.selected);
            list.push_back(status_entry(version, "END", "UNKNOWN", s->refused.at(version)));
        } else if (route.selector != Route::Selector::none) {
            const auto v = resolve(req, route, m, *s);
            version = v->version;
            list.push_back(status_entry(version, "AVAILABLE", "OK", ""));
        } else {
            std::set<int64_t, std::greater<>> all;
            for (const auto & [v, loaded] : s->versions) all.insert(v);
            for (const auto & [v, why] : s->refused) all.insert(v);
            for (int64_t v : all) {
                if (s->versions.contains(v))
                    list.push_back(status_entry(v, "AVAILABLE", "OK", ""));
                else
                    list.push_back(status_entry(v, "END", "UNKNOWN", s->refused.at(v)));
            }
        }
        res.body = dump(ojson{{"model_version_status", list}}, 1) + "\n";
        return;
    }
    const std::shared_ptr<const LoadedVersion> v = resolve(req, route, m, *s);
    version = v->version;
    if (route.kind == Route::Kind::metadata) {
        res.body = v->metadata;
        return;
    }

    std::string text = req.body;
    rewrite_nonfinite_literals(text);
    json body;
    try {
        body = parse_json_bounded(text, "request body", {.max_depth = kMaxInstanceDepth});
    } catch (const Error & e) {
        reject(400, "JSON Parse error: {}", e.what());
    }
    if (!body.is_object())
        reject(400, "the request must be a JSON object with {}",
               route.kind == Route::Kind::predict ? "\"instances\" or \"inputs\"" : "\"examples\"");
    if (const auto it = body.find("signature_name"); it != body.end()) {
        if (!it->is_string() ||
            (it->get<std::string>() != "serving_default" && !it->get<std::string>().empty()))
            reject(400, "Serving signature name: {} not found in signature def (it has serving_default)",
                   dump(*it));
    }
    if (route.kind != Route::Kind::predict)
        return classify_or_regress(body, *v, route.kind == Route::Kind::classify, res.body);
    const bool rows_format = body.contains("instances"), columnar = body.contains("inputs");
    if (rows_format && columnar) reject(400, "the request has both \"instances\" and \"inputs\"; send one");
    if (!rows_format && !columnar)
        reject(400, "the request has neither \"instances\" (rows) nor \"inputs\" (columns)");
    for (const auto & [key, value] : body.items())
        if (key != "instances" && key != "inputs" && key != "signature_name")
            reject(
                400,
                "unknown field \"{}\" (a request takes \"instances\" or \"inputs\", and \"signature_name\")",
                key);
    RowsReader reader(*v);
    if (rows_format)
        reader.rows_format(body.at("instances"));
    else
        reader.columnar_format(body.at("inputs"));
    const int64_t n = reader.rows();
    if (n == 0) reject(400, "no instances to predict");
    std::vector<float> out(static_cast<size_t>(n * v->output_size));
    v->batcher->predict(reader.values().data(), n, out.data());
    res.body = prediction_reply(*v, out, n, columnar);
}

// -----------------------------------------------------------------------------------------------------------
// The watcher: new, replaced and removed version directories, and labels.json.

void ModelServer::Impl::log_once(ServedModel & m, const std::string & key, LogLevel level,
                                 const std::string & line) {
    if (m.logged.insert(key).second) log(level, line);
}

std::map<std::string, int64_t> ModelServer::Impl::read_labels(ServedModel & m) {
    const std::string path = m.base_dir + "/labels.json";
    std::string text;
    if (file_exists(path)) {
        try {
            text = read_file(path);
        } catch (const Error &) {
            return m.file_labels;  // vanished between the two calls: next poll
        }
    }
    if (text == m.labels_text) return m.file_labels;
    std::map<std::string, int64_t> labels;
    try {
        if (!text.empty()) {
            const json j = parse_json_bounded(text, path, {.max_bytes = 1 << 20, .max_depth = 2});
            if (!j.is_object())
                throw std::runtime_error("expected an object such as {\"stable\": 1, \"canary\": 2}");
            for (const auto & [label, value] : j.items()) {
                if (!is_name(label))
                    throw std::runtime_error(fmt::format("'{}' cannot be a label name", label));
                if (value.is_number_unsigned())
                    labels[label] = value.get<int64_t>();
                else if (value.is_string() && is_number_text(value.get<std::string>()))
                    labels[label] = std::stoll(value.get<std::string>());
                else
                    throw std::runtime_error(
                        fmt::format("label '{}': the version must be a positive number", label));
            }
        }
    } catch (const std::exception & e) {
        // Half-written by an editor, perhaps: keep the labels read before and say so once per content.
        const std::string why = e.what();
        log_once(m, "labels.json:" + text, LogLevel::error,
                 fmt::format("{}; keeping the labels read before",
                             why.starts_with(path) ? why : fmt::format("{}: {}", path, why)));
        return m.file_labels;
    }
    m.labels_text = text;
    m.file_labels = labels;
    return labels;
}

void ModelServer::Impl::scan(ServedModel & m) {
    const std::shared_ptr<const ModelState> current = m.snapshot();
    auto next = std::make_shared<ModelState>();
    std::error_code ec;
    std::map<int64_t, std::string> dirs;
    for (fs::directory_iterator it(m.base_dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        std::error_code type_ec;
        // Dot entries are exports under construction (renamed into place when complete).
        if (is_number_text(name) && it->is_directory(type_ec)) dirs[std::stoll(name)] = it->path().string();
    }
    if (ec) {
        log_once(m, "dir:" + ec.message(), LogLevel::error,
                 fmt::format("{}: cannot list: {}; still serving {} versions {}", m.base_dir, ec.message(),
                             m.name, join_versions(*current)));
        return;
    }
    std::erase_if(m.logged, [](const std::string & key) { return key.starts_with("dir:"); });
    std::erase_if(m.refusals, [&](const auto & r) {
        return std::none_of(dirs.begin(), dirs.end(), [&](const auto & d) { return d.second == r.first; });
    });
    for (const auto & [version, dir] : dirs) {
        const FileStamp stamp = stamp_of(dir + "/dlctl.h5");
        const auto old = current->versions.find(version);
        const bool had = old != current->versions.end();
        if (had && old->second->stamp == stamp) {
            next->versions[version] = old->second;
            continue;
        }
        if (const auto r = m.refusals.find(dir); r != m.refusals.end() && r->second.stamp == stamp) {
            next->refused[version] = r->second.why;
            if (had) next->versions[version] = old->second;
            continue;
        }
        try {
            next->versions[version] = load_version(m.name, version, dir, stamp, options, metrics);
            m.refusals.erase(dir);
            log(LogLevel::info,
                fmt::format("{}: {} version {} from {}", m.name, had ? "reloaded" : "loaded", version, dir));
        } catch (const std::exception & e) {
            // Our own errors name the file; anything else (bad_alloc from a file that claims too much) gets
            // it.
            const std::string why = dynamic_cast<const Error *>(&e)
                                        ? std::string(e.what())
                                        : fmt::format("{}/dlctl.h5: cannot be loaded: {}", dir, e.what());
            // The status API is public: it names files relative to the model's base directory.
            const std::string shown = replace_all(why, m.base_dir + "/", "");
            m.refusals[dir] = {stamp, shown};
            next->refused[version] = shown;
            if (had) next->versions[version] = old->second;
            log(LogLevel::error, fmt::format("{}: version {} refused: {}{}", m.name, version, why,
                                             had ? "; still serving the copy loaded before" : ""));
        }
    }
    for (const auto & [version, loaded] : current->versions)
        if (!next->versions.contains(version))
            log(LogLevel::info, fmt::format("{}: version {} removed", m.name, version));

    std::map<std::string, int64_t> labels = read_labels(m);
    for (const auto & [label, version] : m.flag_labels) labels[label] = version;
    for (const auto & [label, version] : labels) {
        const std::string key = fmt::format("label:{}={}", label, version);
        if (next->versions.contains(version)) {
            next->labels[label] = version;
            m.logged.erase(key);
        } else {
            log_once(m, key, LogLevel::error,
                     fmt::format("{}: label '{}' points at version {}, which is not loaded; ignoring it",
                                 m.name, label, version));
        }
    }
    if (next->labels != current->labels) {
        std::vector<std::string> text;
        for (const auto & [label, version] : next->labels)
            text.push_back(fmt::format("{}={}", label, version));
        log(LogLevel::info, fmt::format("{}: labels {}", m.name,
                                        text.empty() ? "none" : fmt::format("{}", fmt::join(text, ", "))));
    }
    if (next->versions != current->versions || next->labels != current->labels ||
        next->refused != current->refused)
        m.publish(std::move(next));
}

void ModelServer::Impl::watch() {
    const std::string host =
        options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
    for (bool first = true;; first = false) {
        for (const auto & m : models) scan(*m);
        if (first) {
            std::vector<std::string> served;
            for (const auto & m : models)
                served.push_back(fmt::format("{} versions {}", m->name, join_versions(*m->snapshot())));
            log(LogLevel::info,
                fmt::format("serving {} on http://{}:{}", fmt::join(served, ", "), host, port));
        }
        std::unique_lock lock(stop_mutex);
        if (stop_changed.wait_for(lock, std::chrono::milliseconds(options.poll_ms),
                                  [&] { return stop_requested; }))
            return;
    }
}

// -----------------------------------------------------------------------------------------------------------

ModelServer::ModelServer(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

ModelServer::~ModelServer() = default;

int ModelServer::port() const { return impl_->port; }

void ModelServer::run() {
    Impl & s = *impl_;
    std::thread watcher([&s] { s.watch(); });
    s.http->run();  // until stop(): then the requests already read are answered
    {
        std::lock_guard lock(s.stop_mutex);
        s.stop_requested = true;
    }
    s.stop_changed.notify_all();
    watcher.join();
    for (const auto & m : s.models) m->publish(std::make_shared<ModelState>());  // joins the batchers
}

void ModelServer::stop() {
    impl_->http->stop();
    {
        std::lock_guard lock(impl_->stop_mutex);
        impl_->stop_requested = true;
    }
    impl_->stop_changed.notify_all();
}

}  // namespace dl
