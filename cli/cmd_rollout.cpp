// `dlctl rollout`: progressive delivery against a running `dlctl serve`, as Flagger and Argo Rollouts do it on
// Kubernetes: raise the canary's share of traffic step by step (labels.json's canary_percent, taken by the
// server through its admin API's reload), judge each interval on the canary's own counters (success rate, p99
// latency, divergence from stable on mirrored requests), then promote it, or on a breach set its share to 0,
// take its label away and record why in history.jsonl.
#include <curl/curl.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <regex>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "core/json_limits.h"
#include "io/model_labels.h"
#include "releases.h"
#include "report.h"

namespace dlctl {

namespace {

using ojson = nlohmann::ordered_json;

struct RolloutOptions {
    std::string model_dir, runs, server = "http://127.0.0.1:8501", admin_token, reason, interval_text = "30s";
    int64_t canary = 0;
    double step = 10, max = 50, min_success_rate = 99, max_p99_ms = 0, max_divergence = -1;
    int64_t min_requests = 1, max_idle_intervals = 10;
    bool shadow = false, status = false, json = false;
};

double parse_interval(const std::string & text) {
    static const std::regex re(R"(\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*)");
    std::smatch m;
    if (!std::regex_match(text, m, re))
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("--interval '{}': expected a duration such as 30s, 500ms or 2m", text));
    const double value = std::stod(m[1]);
    const std::string unit = m[2];
    const double seconds = unit == "ms" ? value / 1000 : unit == "m" ? value * 60 : value;
    if (seconds < 0.01 || seconds > 86400)
        throw dl::Error(dl::ExitCode::usage, fmt::format("--interval '{}': from 10ms to 24h", text));
    return seconds;
}

// The admin API of `dlctl serve` (http_api.cpp): GET /admin/models/NAME, POST /admin/models/NAME:reload.
class AdminClient {
public:
    AdminClient(std::string server, std::string model, std::string token)
        : base_(std::move(server)), model_(std::move(model)), token_(std::move(token)) {
        while (!base_.empty() && base_.back() == '/') base_.pop_back();
        if (!base_.starts_with("http://") && !base_.starts_with("https://"))
            throw dl::Error(dl::ExitCode::usage,
                            fmt::format("--server '{}': expected http://HOST:PORT", base_));
    }

    ojson state() { return call("GET", fmt::format("{}/admin/models/{}", base_, model_)); }
    ojson reload() { return call("POST", fmt::format("{}/admin/models/{}:reload", base_, model_)); }

private:
    ojson call(const char * method, const std::string & url) {
        CURL * curl = curl_easy_init();
        if (!curl) throw dl::Error(dl::ExitCode::internal, "libcurl: cannot create a handle");
        std::string body;
        curl_slist * headers = nullptr;
        if (!token_.empty())
            headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
        curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (std::string_view(method) == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(
            curl, CURLOPT_WRITEFUNCTION, +[](char * data, size_t size, size_t n, void * out) {
                auto & text = *static_cast<std::string *>(out);
                if (text.size() + size * n > (size_t{4} << 20)) return size_t{0};  // an endless answer: stop
                text.append(data, size * n);
                return size * n;
            });
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        const CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        if (rc != CURLE_OK)
            throw dl::Error(dl::ExitCode::unavailable,
                            fmt::format("{} {}: {} (is `dlctl serve` running there?)", method, url,
                                        curl_easy_strerror(rc)));
        if (status == 401 || status == 403)
            throw dl::Error(dl::ExitCode::denied,
                            fmt::format("{} {}: {} (the admin API takes loopback clients, or --admin-token)",
                                        method, url, status));
        if (status != 200)
            throw dl::Error(dl::ExitCode::unavailable,
                            fmt::format("{} {}: HTTP {}: {}", method, url, status, body.substr(0, 300)));
        ojson j = dl::parse_json_bounded<ojson>(body, url, {.max_bytes = 4 << 20, .max_depth = 8},
                                                dl::ExitCode::unavailable);
        if (!j.is_object() || !j.contains("versions"))
            throw dl::Error(dl::ExitCode::unavailable, fmt::format("{}: not an answer of dlctl serve", url));
        return j;
    }

    std::string base_, model_, token_;
};

// One version's counters between two reads of the admin API.
struct Window {
    int64_t requests = 0, server_errors = 0, divergence_rows = 0;
    double divergence_sum = 0;
    std::vector<double> bounds;
    std::vector<int64_t> latency;  // per bucket, the last one above every bound

    double success_percent() const {
        return requests == 0 ? 100 : 100.0 * static_cast<double>(requests - server_errors) / requests;
    }
    // The upper bound of the bucket holding the 99th percentile (infinity above the last bound).
    double p99_ms() const {
        int64_t total = 0;
        for (int64_t c : latency) total += c;
        if (total == 0) return 0;
        const double rank = std::ceil(0.99 * static_cast<double>(total));
        int64_t seen = 0;
        for (size_t i = 0; i < latency.size(); ++i) {
            seen += latency[i];
            if (static_cast<double>(seen) >= rank)
                return i < bounds.size() ? bounds[i] * 1000 : std::numeric_limits<double>::infinity();
        }
        return std::numeric_limits<double>::infinity();
    }
    double divergence() const { return divergence_rows == 0 ? 0 : divergence_sum / divergence_rows; }
};

Window window_of(const ojson & now, const ojson & before, int64_t version) {
    const std::string key = std::to_string(version);
    Window w;
    const auto it = now.at("versions").find(key);
    if (it == now.at("versions").end()) return w;
    const ojson empty = ojson::object();
    const auto old_it = before.at("versions").find(key);
    const ojson & a = *it;
    const ojson & b = old_it == before.at("versions").end() ? empty : *old_it;
    auto delta = [&](const char * field) { return a.value(field, int64_t{0}) - b.value(field, int64_t{0}); };
    w.requests = delta("requests");
    w.server_errors = delta("server_errors");
    w.divergence_rows = delta("divergence_rows");
    w.divergence_sum = a.value("divergence_sum", 0.0) - b.value("divergence_sum", 0.0);
    w.bounds = a.at("latency_bounds").get<std::vector<double>>();
    const auto counts = a.at("latency_counts").get<std::vector<int64_t>>();
    const auto old_counts = b.contains("latency_counts") ? b.at("latency_counts").get<std::vector<int64_t>>()
                                                         : std::vector<int64_t>();
    for (size_t i = 0; i < counts.size(); ++i)
        w.latency.push_back(counts[i] - (i < old_counts.size() ? old_counts[i] : 0));
    return w;
}

// Why the canary fails this window, or "" when it passes.
std::string breach_of(const Window & w, const RolloutOptions & o) {
    if (w.success_percent() < o.min_success_rate)
        return fmt::format("success rate {:.2f}% < {}% ({} server errors in {} requests)",
                           w.success_percent(), o.min_success_rate, w.server_errors, w.requests);
    if (o.max_p99_ms > 0 && w.p99_ms() > o.max_p99_ms)
        return fmt::format("p99 latency {} ms > {} ms", w.p99_ms(), o.max_p99_ms);
    if (o.max_divergence >= 0 && w.divergence_rows > 0 && w.divergence() > o.max_divergence)
        return fmt::format("divergence from stable {:.6g} > {} (over {} rows)", w.divergence(),
                           o.max_divergence, w.divergence_rows);
    return "";
}

ojson window_json(const Window & w) {
    ojson j;
    j["requests"] = w.requests;
    j["server_errors"] = w.server_errors;
    j["success_rate"] = w.success_percent();
    j["p99_ms"] = std::isfinite(w.p99_ms()) ? ojson(w.p99_ms()) : ojson("inf");
    j["divergence"] = w.divergence();
    j["divergence_rows"] = w.divergence_rows;
    return j;
}

// SIGINT / SIGTERM during a rollout: the canary is rolled back (a half-done rollout never stays behind), then
// exit 130.
std::atomic<bool> interrupted{false};

void on_signal(int) { interrupted.store(true); }

// Sleeps `seconds` in short slices; false when a signal came.
bool sleep_unless_interrupted(double seconds) {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point until =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (!interrupted.load()) {
        const Clock::time_point now = Clock::now();
        if (now >= until) return true;
        std::this_thread::sleep_for(std::min<Clock::duration>(until - now, std::chrono::milliseconds(50)));
    }
    return false;
}

void say(const RolloutOptions & o, const std::string & line) {
    if (!o.json) fmt::print("{}\n", line);
    std::fflush(stdout);
}

// Sets the canary's share (and shadow mode) in labels.json, has the server take it, and checks it did.
void set_share(const std::string & dir, AdminClient & admin, const RolloutOptions & o, double percent) {
    dl::change_labels(dir, [&](dl::LabelSet & labels, std::vector<dl::HistoryEntry> & log) {
        dl::HistoryEntry e{.action = "canary_percent",
                           .label = "canary",
                           .from = labels.version_of("canary"),
                           .to = o.canary,
                           .reason = "rollout step"};
        e.details["canary_percent"] = {{"from", labels.canary_percent.value_or(0)}, {"to", percent}};
        if (o.shadow) e.details["shadow"] = true;
        log.push_back(e);
        labels.canary_percent = percent;
        labels.shadow = o.shadow;
    });
    const ojson state = admin.reload();
    if (!state.value("labels_error", "").empty() ||
        state.at("labels").value("canary", int64_t{0}) != o.canary ||
        std::abs(state.value("canary_percent", -1.0) - percent) > 1e-9)
        throw dl::Error(
            dl::ExitCode::unavailable,
            fmt::format("the server did not take the labels (labels {}, canary_percent {}{}); is it "
                        "serving {}?",
                        state.at("labels").dump(), state.value("canary_percent", -1.0),
                        state.value("labels_error", "").empty() ? "" : ": " + state.value("labels_error", ""),
                        dir));
}

void print_status(const RolloutOptions & o, AdminClient & admin) {
    const ojson state = admin.state();
    if (o.json) {
        print_json(state);
        return;
    }
    fmt::print("labels: {}  canary_percent: {}{}\n", state.at("labels").dump(),
               state.value("canary_percent", 0.0), state.value("shadow", false) ? "  (shadow)" : "");
    if (!state.value("labels_error", "").empty())
        fmt::print("labels.json refused: {}\n", state.value("labels_error", ""));
    fmt::print("{:>8} {:>10} {:>8} {:>9} {:>9} {:>11}\n", "VERSION", "REQUESTS", "ERRORS", "SUCCESS%",
               "P99_MS", "DIVERGENCE");
    const ojson empty = {{"versions", ojson::object()}};
    for (const auto & [version, stats] : state.at("versions").items()) {
        const Window w = window_of(state, empty, std::stoll(version));
        fmt::print("{:>8} {:>10} {:>8} {:>9.2f} {:>9} {:>11.6g}\n", version, w.requests, w.server_errors,
                   w.success_percent(), w.p99_ms(), w.divergence());
    }
}

void run_rollout(const RolloutOptions & o) {
    const std::string dir = model_directory(o.model_dir, o.runs);
    AdminClient admin(o.server, std::filesystem::path(dir).filename().string(), o.admin_token);
    if (o.status) return print_status(o, admin);
    if (o.canary <= 0) throw dl::Error(dl::ExitCode::usage, "--canary VERSION is required (or --status)");
    if (!(o.step > 0 && o.step <= 100 && o.max > 0 && o.max <= 100))
        throw dl::Error(dl::ExitCode::usage, "--step and --max must be in (0, 100]");
    const double interval = parse_interval(o.interval_text);
    loadable_version(dir, std::to_string(o.canary));
    const dl::LabelSet before = dl::read_labels_file(dir);
    if (before.version_of("stable") == o.canary)
        throw dl::Error(dl::ExitCode::usage, fmt::format("version {} is already stable", o.canary));

    admin.state();  // the server answers (else exit 69) before anything changes
    dl::change_labels(dir, [&](dl::LabelSet & labels, std::vector<dl::HistoryEntry> & log) {
        dl::HistoryEntry e{.action = "rollout",
                           .label = "canary",
                           .from = labels.version_of("canary"),
                           .to = o.canary,
                           .reason = o.reason.empty() ? "rollout started" : o.reason};
        e.details = {{"step", o.step},
                     {"max", o.max},
                     {"interval_s", interval},
                     {"min_success_rate", o.min_success_rate},
                     {"max_p99_ms", o.max_p99_ms},
                     {"max_divergence", o.max_divergence},
                     {"shadow", o.shadow}};
        log.push_back(e);
        labels.versions["canary"] = o.canary;
        labels.canary_percent = 0;
        labels.shadow = o.shadow;
    });

    ojson steps = ojson::array();
    auto roll_back = [&](const std::string & why, const ojson & measured,
                         dl::ExitCode code = dl::ExitCode::gate_failed) {
        dl::change_labels(dir, [&](dl::LabelSet & labels, std::vector<dl::HistoryEntry> & log) {
            dl::HistoryEntry e{.action = "rollback",
                               .label = "canary",
                               .from = labels.version_of("canary"),
                               .reason = "rollout: " + why};
            e.details = {{"measured", measured}};
            log.push_back(e);
            labels.versions.erase("canary");
            labels.canary_percent.reset();
            labels.shadow = false;
        });
        try {
            admin.reload();
        } catch (const dl::Error & e) {
            note(fmt::format("{}; the server takes the labels at its next poll", e.what()));
        }
        if (o.json)
            print_json({{"result", "rolled back"}, {"canary", o.canary}, {"why", why}, {"steps", steps}});
        throw dl::Error(code, fmt::format("rollout of version {} rolled back: {}", o.canary, why));
    };
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);

    double percent = std::min(o.step, o.max);
    int64_t idle = 0;
    try {
        set_share(dir, admin, o, percent);
    } catch (const dl::Error & e) {
        roll_back(e.what(), ojson::object());
    }
    say(o, fmt::format("canary {} at {}%{}", o.canary, percent, o.shadow ? " (shadow)" : ""));
    // The server picks labels.json up at its next poll anyway: a reload that fails is only a delay.
    auto reload_quietly = [&] {
        try {
            admin.reload();
        } catch (const dl::Error & e) {
            note(fmt::format("{}; the server takes the labels at its next poll", e.what()));
        }
    };
    auto fetch_state = [&](const ojson & measured) {
        try {
            return admin.state();
        } catch (const dl::Error & e) {
            roll_back(e.what(), measured);
        }
        return ojson();  // not reached: roll_back throws
    };
    ojson last = fetch_state(ojson::object());
    for (;;) {
        if (!sleep_unless_interrupted(interval))
            roll_back(fmt::format("at {}%: interrupted by a signal", percent), ojson::object(),
                      dl::ExitCode::interrupted);
        ojson now = fetch_state(ojson::object());
        const Window w = window_of(now, last, o.canary);
        const ojson measured = window_json(w);
        steps.push_back({{"percent", percent}, {"measured", measured}});
        if (const std::string why = breach_of(w, o); !why.empty())
            roll_back(fmt::format("at {}%: {}", percent, why), measured);
        if (w.requests < o.min_requests) {
            if (++idle > o.max_idle_intervals)
                roll_back(fmt::format("at {}%: fewer than {} requests in each of {} intervals", percent,
                                      o.min_requests, idle),
                          measured);
            say(o, fmt::format("canary {} at {}%: {} requests this interval; holding", o.canary, percent,
                               w.requests));
            last = std::move(now);
            continue;
        }
        idle = 0;
        say(o, fmt::format("canary {} at {}%: {} requests, {:.2f}% success, p99 {} ms, divergence {:.6g}",
                           o.canary, percent, w.requests, w.success_percent(), w.p99_ms(), w.divergence()));
        if (percent >= o.max) break;
        percent = std::min(percent + o.step, o.max);
        try {
            set_share(dir, admin, o, percent);
        } catch (const dl::Error & e) {
            roll_back(e.what(), measured);
        }
        say(o, fmt::format("canary {} at {}%{}", o.canary, percent, o.shadow ? " (shadow)" : ""));
        last = fetch_state(measured);
    }
    std::optional<int64_t> replaced;
    dl::change_labels(dir, [&](dl::LabelSet & labels, std::vector<dl::HistoryEntry> & log) {
        replaced = labels.version_of("stable");
        dl::HistoryEntry e{.action = "promote",
                           .label = "stable",
                           .from = replaced,
                           .to = o.canary,
                           .reason = fmt::format("rollout: healthy up to {}%", percent)};
        e.details = {{"promoted_from_label", "canary"}, {"steps", steps}};
        log.push_back(e);
        log.push_back(
            {.action = "remove", .label = "canary", .from = o.canary, .reason = "promoted to stable"});
        labels.versions["stable"] = o.canary;
        labels.versions.erase("canary");
        labels.canary_percent.reset();
        labels.shadow = false;
    });
    reload_quietly();
    if (o.json) {
        print_json({{"result", "promoted"},
                    {"canary", o.canary},
                    {"replaced", replaced ? ojson(*replaced) : ojson()},
                    {"steps", steps}});
        return;
    }
    fmt::print("promoted version {} to stable (was {})\n", o.canary, version_text(replaced));
}

}  // namespace

void setup_rollout(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<RolloutOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("model_dir", o->model_dir,
                    "the served model directory (export/housing) `dlctl serve` watches")
        ->required();
    sub->add_option("--canary", o->canary, "the version to roll out");
    sub->add_option("--server", o->server, "the running `dlctl serve`")->capture_default_str();
    sub->add_option("--step", o->step, "canary share added each interval, in percent")->capture_default_str();
    sub->add_option("--max", o->max, "the share at which a healthy canary is promoted, in percent")
        ->capture_default_str();
    sub->add_option("--interval", o->interval_text, "how long each step is watched (30s, 500ms, 2m)")
        ->capture_default_str();
    sub->add_option("--min-success-rate", o->min_success_rate,
                    "roll back when under this percentage of the canary's requests succeed (no 5xx)")
        ->capture_default_str();
    sub->add_option(
           "--max-p99-ms", o->max_p99_ms,
           "roll back when the canary's p99 latency is above this (the histogram bucket's bound); 0: "
           "not checked")
        ->capture_default_str();
    sub->add_option(
        "--max-divergence", o->max_divergence,
        "roll back when the canary's answers are further than this from stable's on the same rows "
        "(mean absolute difference; total variation distance for classifiers)");
    sub->add_option("--min-requests", o->min_requests,
                    "a step with fewer canary requests holds its share instead of advancing")
        ->capture_default_str();
    sub->add_option("--max-idle-intervals", o->max_idle_intervals,
                    "roll back after this many intervals in a row without enough requests")
        ->capture_default_str();
    sub->add_flag(
        "--shadow", o->shadow,
        "the canary gets a copy of its share of requests; its answers are compared, never returned");
    sub->add_option("--reason", o->reason, "why, for history.jsonl");
    sub->add_option("--admin-token", o->admin_token, "the token `dlctl serve --admin-token` was given")
        ->envname("DLCTL_ADMIN_TOKEN");
    sub->add_flag(
        "--status", o->status,
        "print the labels, canary share and per-version requests, errors, p99 and divergence, and exit");
    sub->add_option("--runs", o->runs, "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
    sub->add_flag("--json", o->json, "print the outcome (or --status) as JSON");
    sub->callback([o] { run_rollout(*o); });
}

}  // namespace dlctl
