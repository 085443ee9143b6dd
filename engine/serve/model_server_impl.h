// ModelServer's state, shared by the files model_server.cpp is split into: model_server.cpp (options, start
// and stop), http_api.cpp (the routes: health, metrics, TF Serving's /v1/models API) and
// version_repository.cpp (the watcher: versions, labels, reloads). Internal to serve/.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
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
    std::shared_ptr<const serve::LoadedVersion> resolve(const HttpRequest & req, const serve::Route & route,
                                                        serve::ServedModel & m,
                                                        const serve::ModelState & s) const;
    bool ready() const;

    void watch();
    void scan(serve::ServedModel & m);
    std::map<std::string, int64_t> read_labels(serve::ServedModel & m);
    void log_once(serve::ServedModel & m, const std::string & key, LogLevel level, const std::string & line);

    ServeOptions options;
    std::unique_ptr<HttpServer> http;
    int port = 0;
    serve::ServeMetrics metrics;
    std::vector<std::unique_ptr<serve::ServedModel>> models;
    std::map<std::string, serve::ServedModel *, std::less<>> by_name;

    std::mutex stop_mutex;
    std::condition_variable stop_changed;
    bool stop_requested = false;
};

}  // namespace dl
