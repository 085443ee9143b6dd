// ModelServer: its options checked, the model directories and --label flags read, the HTTP server bound,
// and the watcher thread started and stopped. The rest is split by subsystem: serve_errors.h (errors in TF
// Serving's shape), serve_metrics (Prometheus), batcher (dynamic batching), version_repository (loaded
// versions, labels, the watcher), request_body (TF Serving's request and reply bodies) and http_api.cpp (the
// routes); model_server_impl.h holds the state they share.
#include "serve/model_server.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/fs.h"
#include "serve/http_server.h"
#include "serve/model_server_impl.h"
#include "serve/serve_errors.h"

namespace dl {

namespace fs = std::filesystem;

using namespace serve;

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
