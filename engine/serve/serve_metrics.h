// Prometheus metrics of `dlctl serve` (GET /metrics): requests, errors, predict latency and batch sizes by
// model and version, and the versions each model has loaded. Internal to serve/.
//   ServeMetrics metrics;
//   metrics.count_request("housing", 1, "predict", 200, 0.0004);
//   metrics.observe_batch("housing", 1, 8);
//   res.body = metrics.render({{"housing", 1}});  // the text exposition format, version 0.0.4
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace dl::serve {

class Histogram {
public:
    explicit Histogram(std::span<const double> bounds) : bounds_(bounds), counts_(bounds.size(), 0) {}

    void observe(double v);
    void write(std::string & out, std::string_view name, const std::string & labels) const;
    std::span<const double> bounds() const { return bounds_; }
    const std::vector<uint64_t> & counts() const { return counts_; }  // per bucket, not cumulative
    uint64_t count() const { return count_; }

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
                       double seconds);
    void observe_batch(const std::string & model, int64_t version, int64_t rows);
    // How far a version's answers were from another's on the same rows (mirrored and shadowed requests).
    void observe_divergence(const std::string & model, int64_t version, double divergence_sum, int64_t rows);
    // Per version of `model`: inference requests, server errors (5xx), the latency histogram and divergence,
    // counted since start-up; `dlctl rollout` takes differences between two reads.
    nlohmann::ordered_json version_stats(const std::string & model) const;
    // `loaded`: model name -> number of loaded versions, sampled by the caller.
    std::string render(const std::map<std::string, size_t> & loaded) const;

private:
    // Model names are checked at start-up ([A-Za-z0-9._-]) and versions are numbers: nothing to escape.
    static std::string labels(const std::string & model, int64_t version);

    mutable std::mutex mutex_;
    std::map<std::tuple<std::string, int64_t, std::string, int>, uint64_t> requests_;
    std::map<Key, uint64_t> errors_;
    std::map<Key, uint64_t> inference_requests_, server_errors_;
    struct Divergence {
        double sum = 0, max = 0;
        int64_t rows = 0;
    };
    std::map<Key, Divergence> divergence_;
    std::map<Key, Histogram> latency_, batch_;
};

}  // namespace dl::serve
