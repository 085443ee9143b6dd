#include "serve/serve_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <iterator>

namespace dl::serve {

namespace {

constexpr std::array kLatencyBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
constexpr std::array kBatchBounds = {1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0};

}  // namespace

void Histogram::observe(double v) {
    const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
    if (it != bounds_.end()) ++counts_[static_cast<size_t>(it - bounds_.begin())];
    sum_ += v;
    ++count_;
}

void Histogram::write(std::string & out, std::string_view name, const std::string & labels) const {
    auto to = std::back_inserter(out);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += counts_[i];
        fmt::format_to(to, "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bounds_[i], cumulative);
    }
    fmt::format_to(to, "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, count_);
    fmt::format_to(to, "{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, sum_, name, labels, count_);
}

void ServeMetrics::count_request(const std::string & model, int64_t version, const std::string & method,
                                 int code, double seconds) {
    std::lock_guard lock(mutex_);
    ++requests_[{model, version, method, code}];
    if (code >= 400) ++errors_[{model, version}];
    const bool inference =
        method == "predict" || method == "classify" || method == "regress" || method == "shadow";
    if (!inference || version < 0) return;
    ++inference_requests_[{model, version}];
    if (code >= 500) ++server_errors_[{model, version}];
    if (code < 400) latency_.try_emplace({model, version}, kLatencyBounds).first->second.observe(seconds);
}

void ServeMetrics::observe_divergence(const std::string & model, int64_t version, double divergence_sum,
                                      int64_t rows) {
    std::lock_guard lock(mutex_);
    Divergence & d = divergence_[{model, version}];
    d.sum += divergence_sum;
    d.rows += rows;
    if (rows > 0) d.max = std::max(d.max, divergence_sum / static_cast<double>(rows));
}

nlohmann::ordered_json ServeMetrics::version_stats(const std::string & model) const {
    std::lock_guard lock(mutex_);
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    auto entry = [&](int64_t version) -> nlohmann::ordered_json & {
        nlohmann::ordered_json & e = out[std::to_string(version)];
        if (e.is_null())
            e = {{"requests", 0},
                 {"server_errors", 0},
                 {"latency_bounds", kLatencyBounds},
                 {"latency_counts", std::vector<uint64_t>(kLatencyBounds.size() + 1, 0)},
                 {"divergence_sum", 0.0},
                 {"divergence_rows", 0},
                 {"divergence_max", 0.0}};
        return e;
    };
    for (const auto & [key, n] : inference_requests_)
        if (key.first == model) entry(key.second)["requests"] = n;
    for (const auto & [key, n] : server_errors_)
        if (key.first == model) entry(key.second)["server_errors"] = n;
    for (const auto & [key, h] : latency_) {
        if (key.first != model) continue;
        std::vector<uint64_t> counts = h.counts();
        uint64_t in_bounds = 0;
        for (uint64_t c : counts) in_bounds += c;
        counts.push_back(h.count() - in_bounds);  // above the last bound
        entry(key.second)["latency_counts"] = counts;
    }
    for (const auto & [key, d] : divergence_) {
        if (key.first != model) continue;
        nlohmann::ordered_json & e = entry(key.second);
        e["divergence_sum"] = d.sum;
        e["divergence_rows"] = d.rows;
        e["divergence_max"] = d.max;
    }
    return out;
}

void ServeMetrics::observe_batch(const std::string & model, int64_t version, int64_t rows) {
    std::lock_guard lock(mutex_);
    batch_.try_emplace({model, version}, kBatchBounds).first->second.observe(static_cast<double>(rows));
}

std::string ServeMetrics::render(const std::map<std::string, size_t> & loaded) const {
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
        fmt::format_to(to, "dlctl_serve_request_errors_total{{{}}} {}\n", labels(key.first, key.second), n);
    out +=
        "# HELP dlctl_serve_request_duration_seconds Time to answer a successful predict, classify or "
        "regress request (or a shadow copy), from its body read to its reply built.\n"
        "# TYPE dlctl_serve_request_duration_seconds histogram\n";
    for (const auto & [key, h] : latency_)
        h.write(out, "dlctl_serve_request_duration_seconds", labels(key.first, key.second));
    out +=
        "# HELP dlctl_serve_batch_size Rows per engine call after dynamic batching.\n"
        "# TYPE dlctl_serve_batch_size histogram\n";
    for (const auto & [key, h] : batch_)
        h.write(out, "dlctl_serve_batch_size", labels(key.first, key.second));
    out +=
        "# HELP dlctl_serve_divergence_sum How far a version's predictions were from the other routed "
        "version's "
        "on the same rows (mirrored canary requests and shadow traffic), summed over rows: mean absolute "
        "difference of the outputs for regressors, total variation distance of the probabilities for "
        "classifiers.\n"
        "# TYPE dlctl_serve_divergence_sum counter\n"
        "# HELP dlctl_serve_divergence_rows Rows compared for dlctl_serve_divergence_sum.\n"
        "# TYPE dlctl_serve_divergence_rows counter\n";
    for (const auto & [key, d] : divergence_) {
        fmt::format_to(to, "dlctl_serve_divergence_sum{{{}}} {}\n", labels(key.first, key.second), d.sum);
        fmt::format_to(to, "dlctl_serve_divergence_rows{{{}}} {}\n", labels(key.first, key.second), d.rows);
    }
    out +=
        "# HELP dlctl_serve_loaded_versions Versions of a model loaded and serving.\n"
        "# TYPE dlctl_serve_loaded_versions gauge\n";
    for (const auto & [model, n] : loaded)
        fmt::format_to(to, "dlctl_serve_loaded_versions{{model=\"{}\"}} {}\n", model, n);
    return out;
}

std::string ServeMetrics::labels(const std::string & model, int64_t version) {
    return fmt::format("model=\"{}\",version=\"{}\"", model,
                       version < 0 ? std::string() : std::to_string(version));
}

}  // namespace dl::serve
