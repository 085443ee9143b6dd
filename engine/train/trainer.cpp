#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "core/rng.h"
#include "model/session.h"
#include "model/trained_model.h"
#include "optim/optimizer.h"
#include "train/callbacks.h"
#include "train/checkpoint_state.h"
#include "train/loader.h"
#include "train/replicas.h"
#include "train/run_dir.h"
#include "train/step.h"

namespace dl {

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

// Installs SIGINT/SIGTERM handlers for the duration of training; the loop checks the flag after each step.
class StopSignals {
public:
    StopSignals() {
        g_stop_signal.store(0);
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int_);
        sigaction(SIGTERM, &sa, &old_term_);
    }
    ~StopSignals() {
        sigaction(SIGINT, &old_int_, nullptr);
        sigaction(SIGTERM, &old_term_, nullptr);
    }
    bool requested() const { return g_stop_signal.load() != 0; }

private:
    struct sigaction old_int_ {
    }, old_term_{};
};

nlohmann::ordered_json metrics_json(const std::map<std::string, double> & m, const std::string & prefix,
                                    const std::vector<std::string> & order) {
    nlohmann::ordered_json j;
    j[prefix + "loss"] = m.at("loss");
    for (const std::string & k : order)
        if (m.count(k)) j[prefix + k] = m.at(k);
    return j;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What the epochs share, made once the run has started: SIGINT and SIGTERM are not caught, nor batches
// gathered in the background, while a checkpoint is restored.
struct Loop {
    Loop(const PreparedData & data, const Spec & spec, int64_t batch, ModelSession & session, Optimizer & opt)
        : loader(data.table, data.info, spec.data.augment, spec.seed, batch),
          step(session, opt, replicas, spec.seed) {}

    StopSignals signals;
    LocalReplicas replicas;      // Note [data parallelism]
    std::vector<int64_t> order;  // this epoch's rows; outlives the loader, which may still be reading it
    BatchLoader loader;
    TrainStep step;
    bool interrupted = false;
};

// A claimed run's epochs, from its state (Note [resume]) to its final checkpoint.
class Training {
public:
    Training(const Spec & spec, const std::string & stored_spec_yaml, const PreparedData & data,
             ModelSession & session, ParamStore & params, Optimizer & opt, RunDir & run,
             int64_t steps_per_epoch, TrainObserver & observer)
        : spec_(spec),
          stored_spec_yaml_(stored_spec_yaml),
          data_(data),
          session_(session),
          params_(params),
          opt_(opt),
          run_(run),
          observer_(observer),
          batch_(spec.train.batch_size),
          n_train_(static_cast<int64_t>(data.splits.train.size())),
          steps_per_epoch_(steps_per_epoch),
          schedule_(spec.train, steps_per_epoch),
          callbacks_(spec, schedule_, params, observer) {}

    LoopState & state() { return st_; }
    // The epochs left, then the final weights and metrics. `spec_path`: for the message of an interrupt.
    TrainResult run(const std::string & spec_path);

private:
    void train_epoch(Loop & loop);
    void end_epoch(int64_t first_batch, std::chrono::steady_clock::time_point epoch_t0);
    TrainResult finish();
    H5Content checkpoint() {
        return pack_checkpoint(spec_, stored_spec_yaml_, run_.ref(), params_, opt_, data_.normalizer,
                               data_.table, st_);
    }
    void save(const char * status) {
        run_.save(status, st_.epoch, checkpoint());
        callbacks_.checkpointed();
    }
    void keep_history() {
        if (spec_.train.checkpoint.keep_last <= 0) return;
        run_.keep_epoch(st_.epoch, spec_.train.checkpoint.keep_last, checkpoint());
    }

    const Spec & spec_;
    const std::string & stored_spec_yaml_;  // what checkpoints carry (no host paths)
    const PreparedData & data_;
    ModelSession & session_;
    ParamStore & params_;
    Optimizer & opt_;
    RunDir & run_;
    TrainObserver & observer_;
    const int64_t batch_, n_train_, steps_per_epoch_;
    const LrSchedule schedule_;
    LoopState st_;
    Callbacks callbacks_;
};

TrainResult Training::run(const std::string & spec_path) {
    callbacks_.checkpointed();  // checkpoint.min_interval_s counts from the start
    Loop loop(data_, spec_, batch_, session_, opt_);
    while (st_.epoch < spec_.train.epochs && !st_.callbacks.stopped_early && !loop.interrupted) {
        const auto epoch_t0 = std::chrono::steady_clock::now();
        const int64_t first_batch = st_.batch_in_epoch;
        train_epoch(loop);
        if (loop.interrupted) break;
        end_epoch(first_batch, epoch_t0);
        if (loop.signals.requested()) loop.interrupted = true;
    }

    if (loop.interrupted) {
        save("interrupted");
        throw Error(ExitCode::interrupted,
                    fmt::format("interrupted: checkpoint of {}@{} saved at epoch {}, step {}; continue with "
                                "`dlctl train {} --resume`",
                                spec_.name, run_.ref().version, st_.epoch, st_.step, spec_path));
    }
    return finish();
}

// The epoch's batches from the one a resumed run stopped at; stops early (loop.interrupted) on a signal.
void Training::train_epoch(Loop & loop) {
    const Splits & splits = data_.splits;
    std::vector<int64_t> & order = loop.order;
    BatchLoader & loader = loop.loader;
    order = splits.train;
    if (spec_.train.shuffle) {
        const std::vector<int64_t> perm =
            Rng(spec_.seed, Rng::stream("shuffle", static_cast<uint64_t>(st_.epoch))).permutation(n_train_);
        for (int64_t i = 0; i < n_train_; ++i)
            order[static_cast<size_t>(i)] = splits.train[static_cast<size_t>(perm[static_cast<size_t>(i)])];
    }
    if (st_.batch_in_epoch == 0) st_.partial = MetricSums{};
    const int64_t first_batch = st_.batch_in_epoch;
    auto rows_of = [&](int64_t b) {
        const int64_t global_begin = b * batch_, global_end = std::min(n_train_, global_begin + batch_);
        return std::tuple{global_begin, global_end, loop.replicas.shard(global_begin, global_end)};
    };
    if (st_.batch_in_epoch < steps_per_epoch_) {
        const auto [gb, ge, local] = rows_of(st_.batch_in_epoch);
        loader.start(order, local.first, local.second, static_cast<uint64_t>(st_.step));
    }
    for (int64_t b = st_.batch_in_epoch; b < steps_per_epoch_; ++b) {
        const auto [global_begin, global_end, local] = rows_of(b);
        // Not structured bindings: the hooks capture them, and clang before 16 cannot capture those.
        const int64_t begin = local.first, end = local.second;
        Executor & ex = session_.executor(GraphMode::train, end - begin);
        // On a device, every batch after the epoch's first was gathered and sent during the step before
        // it (Note [double buffers]).
        if (!loop.step.device_step() || b == first_batch) {
            loader.finish(ex);
            if (loop.step.device_step()) ex.upload_inputs();
            if (b + 1 < steps_per_epoch_) {  // the next batch is gathered while this step runs
                const auto [nb, ne, next] = rows_of(b + 1);
                loader.start(order, next.first, next.second, static_cast<uint64_t>(st_.step + 1));
            }
        }
        const double lr = schedule_.at(st_.step, st_.callbacks.plateau_factor);
        double loss = 0;
        const StepHooks hooks{
            .while_running =
                [&] {
                    // The next batch goes up while this step computes.
                    if (b + 1 >= steps_per_epoch_) return;
                    const auto [nb, ne, next] = rows_of(b + 1);
                    Executor & next_ex = session_.executor(GraphMode::train, next.second - next.first);
                    loader.finish(next_ex);
                    next_ex.upload_inputs();
                    if (b + 2 < steps_per_epoch_) {
                        const auto [ab, ae, after] = rows_of(b + 2);
                        loader.start(order, after.first, after.second, static_cast<uint64_t>(st_.step + 2));
                    }
                },
            .on_outputs =
                [&] {
                    loss = ex.output("loss").f32()[0];
                    if (!std::isfinite(loss)) {
                        run_.set_failed();
                        throw Error(
                            ExitCode::runtime,
                            fmt::format("training diverged: the loss is {} at epoch {}, step {}; lower the "
                                        "learning rate or add clip: {{global_norm: 1.0}}",
                                        loss, st_.epoch + 1, st_.step + 1));
                    }
                    session_.accumulate(ex, data_.table, order, begin, end, st_.partial);
                },
        };
        const double norm_g = loop.step.run(ex, static_cast<uint64_t>(st_.step), lr, end - begin,
                                            global_end - global_begin, hooks);
        if (!std::isfinite(norm_g)) {
            run_.set_failed();
            throw Error(ExitCode::runtime,
                        fmt::format("training diverged: a gradient is not finite at epoch {}, step {}",
                                    st_.epoch + 1, st_.step + 1));
        }
        ++st_.step;
        st_.batch_in_epoch = b + 1;
        observer_.on_batch(st_.epoch + 1, b + 1, steps_per_epoch_, loss);
        if (loop.signals.requested() && b + 1 < steps_per_epoch_) {
            loop.interrupted = true;
            break;
        }
    }
}

// End of an epoch: validation, schedules, early stopping, logs, checkpoint.
void Training::end_epoch(int64_t first_batch, std::chrono::steady_clock::time_point epoch_t0) {
    const std::vector<std::string> & metrics = spec_.train.metrics;
    const double train_seconds = seconds_since(epoch_t0);
    const int64_t trained_rows =
        std::min(n_train_, steps_per_epoch_ * batch_) - std::min(n_train_, first_batch * batch_);
    ++st_.epoch;
    st_.batch_in_epoch = 0;
    std::map<std::string, double> values = st_.partial.means();
    EpochReport report{.epoch = st_.epoch, .epochs = spec_.train.epochs};
    report.values = metrics_json(values, "", metrics);
    if (!data_.splits.validation.empty()) {
        const auto val = session_.evaluate(data_.table, data_.splits.validation).means();
        for (auto & [k, v] : val) values["val_" + k] = v;
        report.values.update(metrics_json(val, "val_", metrics));
    }
    const double lr_now = schedule_.at(std::max<int64_t>(0, st_.step - 1), st_.callbacks.plateau_factor);
    report.values["lr"] = lr_now;
    callbacks_.after_epoch(st_.epoch, values, st_.callbacks);

    report.seconds = seconds_since(epoch_t0);
    nlohmann::ordered_json line;
    line["epoch"] = st_.epoch;
    line["step"] = st_.step;
    line.update(report.values);
    line["seconds"] = report.seconds;
    report.samples_per_s = train_seconds > 0 ? static_cast<double>(trained_rows) / train_seconds : 0.0;
    line["samples_per_s"] = report.samples_per_s;
    run_.append_metrics(line.dump() + "\n");
    observer_.on_epoch(report);

    if (callbacks_.new_best(values, st_.callbacks)) run_.save_best(checkpoint());
    const bool last = st_.epoch >= spec_.train.epochs || st_.callbacks.stopped_early;
    if (callbacks_.checkpoint_due(st_.epoch, last)) {
        save("running");
        keep_history();
    }
}

TrainResult Training::finish() {
    callbacks_.restore_best(st_.callbacks);
    // Final metrics: the last epoch's, then the held-out test split.
    TrainResult result{.name = spec_.name,
                       .version = run_.ref().version,
                       .run_dir = run_.ref().dir,
                       .checkpoint = run_.model_path(),
                       .epochs = st_.epoch};
    if (!run_.metric_lines().empty()) {
        nlohmann::ordered_json last = nlohmann::ordered_json::parse(run_.metric_lines().back());
        for (auto & [k, v] : last.items())
            if (k != "epoch" && k != "step" && k != "seconds" && k != "lr" && k != "samples_per_s")
                result.metrics[k] = v;
    }
    if (!data_.splits.test.empty()) {
        const auto test = session_.evaluate(data_.table, data_.splits.test).means();
        result.metrics.update(metrics_json(test, "test_", spec_.train.metrics));
    }
    run_.set_metrics(result.metrics);
    save("done");
    keep_history();
    return result;
}

TrainResult already_done(const Spec & spec, const RunRef & run, const nlohmann::json & meta,
                         std::chrono::steady_clock::time_point t0) {
    TrainResult r{.name = spec.name,
                  .version = run.version,
                  .run_dir = run.dir,
                  .checkpoint = run.dir + "/model.h5",
                  .epochs = meta.value("epochs", int64_t{0}),
                  .seconds = seconds_since(t0),
                  .already_done = true};
    if (meta.contains("metrics")) r.metrics = meta["metrics"];
    return r;
}

TrainResult train_run(const TrainOptions & o, TrainObserver & observer, ClaimedRun & claimed) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> overrides = o.overrides;
    if (o.seed) overrides.push_back(fmt::format("seed={}", *o.seed));
    const Spec spec = load_spec(o.spec_path, overrides);
    const std::string spec_yaml = render_spec(spec);
    const std::string stored_spec_yaml = portable_spec_yaml(spec);  // what checkpoints carry (no host paths)
    // Before the parameters, which may hold its memory: the backend outlives them.
    const std::string device = resolve_device(o.device, spec.device);
    std::unique_ptr<Backend> own_backend = o.backend ? nullptr : make_backend(device);
    Backend * const backend = o.backend ? o.backend : own_backend.get();
    if (!backend->set_precision(spec.train.precision))
        observer.on_note(
            fmt::format("train.precision {} applies on the GPU; the {} backend computes in float32",
                        spec.train.precision, backend->name()));

    PreparedData data = prepare_data(spec);
    // Before a version is claimed: a model that cannot be built leaves no empty run behind.
    check_model(spec, data.info);

    // The version: a new one, or the newest unfinished one with --resume.
    const std::string root = runs_root(o.runs_flag);
    const RunChoice choice = choose_run(root, spec, spec_yaml, o.resume, observer);
    if (choice.done) return already_done(spec, choice.run, *choice.done, t0);
    RunDir run(claim_run(root, spec.name, choice, claimed), t0);

    ParamStore params;
    const int threads = o.threads > 0 ? o.threads : ThreadPool::hardware_threads();
    ModelSession session(spec, data.info, params, threads, backend);
    const int64_t batch = spec.train.batch_size;
    const int64_t n_train = static_cast<int64_t>(data.splits.train.size());
    int64_t steps_per_epoch = (n_train + batch - 1) / batch;
    if (spec.train.steps_per_epoch > 0)
        steps_per_epoch = std::min(steps_per_epoch, spec.train.steps_per_epoch);
    session.executor(GraphMode::train, std::min(batch, n_train));  // creates and initialises the parameters
    Optimizer opt(spec.train.optimizer, spec.train.clip, params, &session.pool(), backend);
    Training training(spec, stored_spec_yaml, data, session, params, opt, run, steps_per_epoch, observer);
    std::vector<std::string> metric_lines;
    if (choice.resuming)
        metric_lines = resume_run(run.ref(), spec, {spec_yaml, stored_spec_yaml}, params, opt,
                                  training.state(), observer);
    run.start(spec, spec_yaml, data.table.sha256, o.backend ? o.backend->name() : device, threads,
              training.state().epoch, std::move(metric_lines));
    observer.on_start(spec, run.ref(), n_train, steps_per_epoch);

    TrainResult result = training.run(o.spec_path);
    result.seconds = seconds_since(t0);
    return result;
}

}  // namespace

TrainResult train(const TrainOptions & o, TrainObserver & observer) {
    ClaimedRun claimed;
    try {
        return train_run(o, observer, claimed);
    } catch (const Error & e) {
        if (!claimed.dir.empty() && e.code() != ExitCode::interrupted)
            mark_failed(claimed.dir, e.code(), e.what());
        throw;
    } catch (const std::filesystem::filesystem_error & e) {
        // Creating the checkpoints folder, pruning old checkpoints: a full or read-only disk is an I/O error.
        Error io(ExitCode::io, fmt::format("{}: {}", e.path1().string(), e.code().message()));
        if (!claimed.dir.empty()) mark_failed(claimed.dir, io.code(), io.what());
        throw io;
    } catch (const std::exception & e) {
        if (!claimed.dir.empty())
            mark_failed(claimed.dir, ExitCode::internal, fmt::format("internal error: {}", e.what()));
        throw;
    }
}

}  // namespace dl
