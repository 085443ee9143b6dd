// `dlctl serve`: TensorFlow Serving's REST API over the versions `dlctl export` writes
// (DIR/<name>/<version>/), with labels, canary traffic, hot reload, dynamic batching, health checks and
// Prometheus metrics.
//   ServeOptions o{.model_dirs = {"export/housing"}, .port = 0};
//   o.log = [](LogLevel level, const std::string & line) { ... };  // the CLI owns stderr
//   ModelServer server(o);                  // binds now: Error(unavailable) when the port is taken
//   std::thread t([&] { server.run(); });   // loads the versions there, then serves until stop()
//   server.stop();   // from any thread (a signal thread): stop accepting, finish in-flight requests
//   t.join();
// Note [serving model]: each model's loaded versions and labels are an immutable snapshot behind a
// shared_ptr, swapped whole by the watcher thread; a request copies the pointer once, so it keeps its version
// alive until it has answered even when a reload removes that version. Each loaded version has a batcher (a
// queue and a thread) that merges the rows of queued requests into one call on one of its Predictors, each
// used by one thread at a time as Predictor requires (Notes [engine lanes] and [inline batches] in
// serve/batcher.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dl {

enum class LogLevel { info, error };

struct ServeOptions {
    std::vector<std::string> model_dirs;  // base directories DIR/<name>; the model is served as <name>
    std::string host = "127.0.0.1";
    int port = 8501;               // 0: any free port (see ModelServer::port)
    int http_threads = 64;         // worker threads: requests handled at once (serve/http_server.h)
    int engine_lanes = 2;          // Predictors per loaded version: requests run on up to this many at once
    int engine_threads = 1;        // threads of each Predictor
    int64_t max_batch = 64;        // rows per engine call
    int64_t batch_timeout_us = 0;  // how long a batch waits for more rows; 0: take what is queued
    std::vector<std::string> labels;  // [MODEL:]LABEL=VERSION, over labels.json
    double canary_percent =
        0;                    // of unlabelled requests, to the `canary` label's version (labels.json's wins)
    std::string admin_token;  // the admin API (/admin/...): empty: loopback clients only
    int64_t poll_ms = 500;    // how often the base directories are rescanned
    int64_t max_body_bytes = 16 << 20;
    int timeout_s = 5;  // deadline for a whole request to arrive, and for a response to be taken
    bool bench_static_route = false;  // GET|POST /bench/static: a fixed reply, the benchmark's ceiling
    std::function<void(LogLevel, const std::string &)> log;
};

class ModelServer {
public:
    // Checks the options and base directories (Error(usage|missing_input)) and binds the port
    // (Error(unavailable) when it is in use).
    explicit ModelServer(ServeOptions options);
    ~ModelServer();
    ModelServer(const ModelServer &) = delete;
    ModelServer & operator=(const ModelServer &) = delete;

    int port() const;  // the bound port (the chosen one for port 0)
    // Serves until stop(): the first scan of the base directories is logged as
    // "serving NAME versions [..] on http://HOST:PORT"; returns once in-flight requests have answered.
    void run();
    void stop();  // thread-safe; idempotent

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dl
