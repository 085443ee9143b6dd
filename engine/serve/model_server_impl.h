// ModelServer's state, shared by the files model_server.cpp is split into: model_server.cpp (options, start
// and stop), http_api.cpp (the routes: health, metrics, TF Serving's /v1/models API) and
// version_repository.cpp (the watcher: versions, labels, reloads). Internal to serve/.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/http_server.h"
#include "serve/model_server.h"
#include "serve/serve_metrics.h"
#include "serve/version_repository.h"

namespace dl {

namespace serve {
struct Route;  // a parsed /v1/models path (http_api.cpp)
}  // namespace serve

struct ModelServer::Impl {
    explicit Impl(ServeOptions o);

    void log(LogLevel level, const std::string & line) const {
        if (options.log) options.log(level, line);
    }

    void handle(const HttpRequest & req, HttpResponse & res);
    void dispatch(const HttpRequest & req, HttpResponse & res, std::string & model, int64_t & version,
                  std::string & method);
    void serve_v1(const HttpRequest & req, HttpResponse & res, const serve::Route & route,
                  serve::ServedModel & m, int64_t & version);
    // A second version a request also runs on (Note [mirrored requests] in http_api.cpp).
    struct Mirror {
        std::shared_ptr<const serve::LoadedVersion> version;
        bool shadow = false;  // `version` is the canary, shadowing: its answer is only compared
    };
    std::shared_ptr<const serve::LoadedVersion> resolve(const HttpRequest & req, const serve::Route & route,
                                                        serve::ServedModel & m, const serve::ModelState & s,
                                                        Mirror * mirror) const;
    void record_mirror(serve::ServedModel & m, const serve::LoadedVersion & answered, const Mirror & mirror,
                       std::future<void> & mirrored, const std::vector<float> & out,
                       const std::vector<float> & mirrored_out, int64_t rows,
                       std::chrono::steady_clock::time_point start);
    void admin(const HttpRequest & req, HttpResponse & res);
    std::string labels_metrics() const;
    bool ready() const;

    void watch();
    void scan(serve::ServedModel & m);
    void apply_labels(serve::ServedModel & m, serve::ModelState & next);
    // false when `key` was logged before (and not cleared since)
    bool log_once(serve::ServedModel & m, const std::string & key, LogLevel level, const std::string & line);

    ServeOptions options;
    std::unique_ptr<HttpServer> http;
    int port = 0;
    serve::ServeMetrics metrics;
    std::vector<std::unique_ptr<serve::ServedModel>> models;
    std::map<std::string, serve::ServedModel *, std::less<>> by_name;

    std::mutex stop_mutex;  // guards the watcher's state below
    std::condition_variable stop_changed, scan_finished;
    bool stop_requested = false, rescan_requested = false;
    uint64_t scans_started = 0, scans_done = 0;
};

}  // namespace dl
