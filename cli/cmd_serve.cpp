// `dlctl serve`: the options, and the signal thread that turns SIGTERM/SIGINT into a drain (exit 0).
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "serve/model_server.h"

namespace dlctl {

namespace {

struct ServeCliOptions {
    dl::ServeOptions serve;
    double max_body_mb = 16;
};

void run_serve(ServeCliOptions & o) {
    o.serve.max_body_bytes = static_cast<int64_t>(o.max_body_mb * 1024 * 1024);
    o.serve.log = [](dl::LogLevel level, const std::string & line) {
        fmt::print(stderr, "{}{}\n", level == dl::LogLevel::error ? "dlctl: error: " : "dlctl: ", line);
    };
    // Blocked before any thread starts, so every thread inherits the mask and only `signals` below sees them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // A client that hangs up is an error on its socket, not the end of the server.
    std::signal(SIGPIPE, SIG_IGN);

    dl::ModelServer server(o.serve);
    std::atomic<bool> finished{false};
    std::thread signals([&] {
        int sig = 0, received = 0;
        while (sigwait(&set, &sig) == 0 && !finished.load()) {
            if (++received == 1) {
                fmt::print(stderr,
                           "dlctl: {}: finishing in-flight requests, then exiting (again to exit now)\n",
                           sig == SIGINT ? "SIGINT" : "SIGTERM");
                server.stop();
            } else {
                fmt::print(stderr, "dlctl: second signal: exiting without finishing in-flight requests\n");
                std::_Exit(static_cast<int>(dl::ExitCode::interrupted));
            }
        }
    });
    struct JoinSignals {
        std::thread & thread;
        std::atomic<bool> & finished;
        ~JoinSignals() {
            finished = true;
            pthread_kill(thread.native_handle(), SIGTERM);  // wakes sigwait; the signal stays blocked
            thread.join();
        }
    } join{signals, finished};
    server.run();
}

}  // namespace

void setup_serve(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<ServeCliOptions>();
    dl::ServeOptions & s = o->serve;
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("models", s.model_dirs,
                    "model base directories DIR/<name>, as `dlctl export --out DIR` writes them")
        ->required();
    sub->add_option("--host", s.host, "address to listen on")->capture_default_str();
    sub->add_option("--port", s.port, "port to listen on; 0 picks a free one (printed at start-up)")
        ->check(CLI::Range(0, 65535))
        ->capture_default_str();
    sub->add_option("--threads", s.http_threads,
                    "worker threads: requests handled at once (connections never hold one while they send)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    sub->add_option(
           "--engine-lanes", s.engine_lanes,
           "Predictors per loaded version: requests (or merged batches) run on up to this many at once")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    sub->add_option("--engine-threads", s.engine_threads, "threads of each Predictor")
        ->check(CLI::Range(1, dl::ThreadPool::hardware_threads()))
        ->capture_default_str();
    sub->add_option("--max-batch", s.max_batch, "most rows merged into one engine call")
        ->check(CLI::Range(int64_t{1}, int64_t{4096}))
        ->capture_default_str();
    sub->add_option("--batch-timeout-us", s.batch_timeout_us,
                    "how long a batch waits for more requests (0: take what is queued, never wait)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    sub->add_option("--label", s.labels,
                    "[MODEL:]LABEL=VERSION, over the base directory's labels.json; repeatable");
    sub->add_option("--canary-percent", s.canary_percent,
                    "default share of unlabelled requests sent to the `canary` label (the rest to `stable`); "
                    "labels.json's canary_percent wins")
        ->check(CLI::Range(0.0, 100.0))
        ->capture_default_str();
    sub->add_option(
           "--admin-token", s.admin_token,
           "let clients other than loopback ones use the admin API (/admin/..., `dlctl rollout`) with "
           "\"Authorization: Bearer TOKEN\"; then every client needs it")
        ->envname("DLCTL_ADMIN_TOKEN");
    sub->add_option("--poll-ms", s.poll_ms, "how often to look for new versions and labels")
        ->check(CLI::Range(int64_t{1}, int64_t{3600000}))
        ->capture_default_str();
    sub->add_option("--max-body-mb", o->max_body_mb, "largest request body (413 beyond)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    sub->add_option("--timeout-s", s.timeout_s,
                    "deadline to receive a whole request, and to deliver a response")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    sub->add_flag(
        "--bench-static-route", s.bench_static_route,
        "add GET|POST /bench/static, a fixed reply on the same HTTP stack (the benchmark's ceiling)");
    sub->callback([o] { run_serve(*o); });
}

}  // namespace dlctl
