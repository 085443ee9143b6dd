#include "train/trainer.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/fs.h"
#include "core/hash.h"
#include "core/json_limits.h"
#include "core/rng.h"
#include "core/version.h"
#include "io/h5file.h"
#include "model/session.h"
#include "model/trained_model.h"
#include "optim/optimizer.h"
#include "train/loader.h"
#include "train/replicas.h"
#include "train/step.h"

namespace dl {

namespace fs = std::filesystem;

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

// Everything beyond parameters and optimizer slots that decides the rest of a run (Note [resume]).
struct LoopState {
    int64_t epoch = 0;           // epochs completed
    int64_t step = 0;            // optimizer steps done
    int64_t batch_in_epoch = 0;  // batches done in the epoch under way
    MetricSums partial;          // that epoch's sums so far
    double plateau_factor = 1.0, plateau_best = NAN;
    int64_t plateau_wait = 0;
    double early_best = NAN;
    int64_t early_wait = 0;
    int64_t best_epoch = 0;
    double keep_best_value = NAN;
    bool stopped_early = false;
};

bool improved(double value, double best, double min_delta, bool higher) {
    if (std::isnan(best)) return true;
    return higher ? value > best + min_delta : value < best - min_delta;
}

std::string json_array(const std::vector<std::string> & v) { return nlohmann::json(v).dump(); }

H5Content pack_checkpoint(const Spec & spec, const std::string & spec_yaml, const RunRef & run,
                          ParamStore & params, Optimizer & opt,
                          const std::map<std::string, Tensor> & best_params, const Normalizer & norm,
                          const Table & table, const LoopState & st) {
    H5Content c;
    params.download_from_device();
    opt.download_slots();
    for (const std::string & name : params.names()) c.tensors["params/" + name] = params.at(name);
    for (auto & [name, t] : opt.slots()) c.tensors["optimizer/" + name] = t;
    for (auto & [name, t] : best_params) c.tensors["best/" + name] = t;
    Tensor offset(Shape{static_cast<int64_t>(norm.offset.size())}), scale(offset.shape());
    std::copy(norm.offset.begin(), norm.offset.end(), offset.f32());
    std::copy(norm.scale.begin(), norm.scale.end(), scale.f32());
    c.tensors["normalization/offset"] = offset;
    c.tensors["normalization/scale"] = scale;
    c.ints["optimizer/iterations"] = opt.iterations();
    c.ints["state/seed"] = static_cast<int64_t>(spec.seed);
    c.ints["state/epoch"] = st.epoch;
    c.ints["state/step"] = st.step;
    c.ints["state/batch_in_epoch"] = st.batch_in_epoch;
    c.ints["state/partial/samples"] = st.partial.samples;
    c.reals["state/partial/loss"] = st.partial.loss;
    for (auto & [name, v] : st.partial.sums) c.reals["state/partial/" + name] = v;
    c.reals["state/plateau_factor"] = st.plateau_factor;
    c.reals["state/plateau_best"] = st.plateau_best;
    c.ints["state/plateau_wait"] = st.plateau_wait;
    c.reals["state/early_best"] = st.early_best;
    c.ints["state/early_wait"] = st.early_wait;
    c.ints["state/best_epoch"] = st.best_epoch;
    c.reals["state/keep_best_value"] = st.keep_best_value;
    c.ints["state/stopped_early"] = st.stopped_early ? 1 : 0;
    c.attrs["format"] = "dlctl-checkpoint/2";  // 2: the integrity header (Note [h5 integrity])
    c.attrs["data_sha256"] = table.sha256;
    c.attrs["dlctl_version"] = DLCTL_VERSION;
    c.attrs["name"] = run.name;
    c.attrs["version"] = std::to_string(run.version);
    c.attrs["spec"] = spec_yaml;
    c.attrs["classes"] = json_array(table.class_names);
    c.attrs["features"] = json_array(table.feature_names);
    c.attrs["sample_shape"] = nlohmann::json(table.sample_shape).dump();
    c.attrs["targets"] = json_array(table.target_names);
    c.attrs["normalization"] = norm.method;
    return c;
}

void unpack_state(const H5Content & c, const std::vector<std::string> & metrics, LoopState & st) {
    auto i = [&](const char * k) { return c.ints.count(k) ? c.ints.at(k) : 0; };
    auto r = [&](const std::string & k) { return c.reals.count(k) ? c.reals.at(k) : NAN; };
    st.epoch = i("state/epoch");
    st.step = i("state/step");
    st.batch_in_epoch = i("state/batch_in_epoch");
    st.partial.samples = i("state/partial/samples");
    st.partial.loss = c.reals.count("state/partial/loss") ? c.reals.at("state/partial/loss") : 0.0;
    for (const std::string & m : metrics)
        st.partial.sums[m] = c.reals.count("state/partial/" + m) ? c.reals.at("state/partial/" + m) : 0.0;
    st.plateau_factor = c.reals.count("state/plateau_factor") ? c.reals.at("state/plateau_factor") : 1.0;
    st.plateau_best = r("state/plateau_best");
    st.plateau_wait = i("state/plateau_wait");
    st.early_best = r("state/early_best");
    st.early_wait = i("state/early_wait");
    st.best_epoch = i("state/best_epoch");
    st.keep_best_value = r("state/keep_best_value");
    st.stopped_early = i("state/stopped_early") != 0;
}

// Older checkpoints kept with train.checkpoint.keep_last, newest first.
std::vector<std::string> epoch_checkpoints(const std::string & run_dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto & e : fs::directory_iterator(fs::path(run_dir) / "checkpoints", ec)) {
        const std::string file = e.path().filename().string();
        if (file.rfind("epoch-", 0) == 0 && e.path().extension() == ".h5") out.push_back(e.path().string());
    }
    std::sort(out.rbegin(), out.rend());
    return out;
}

// Loads checkpoint `c` (read from `path`) into the run being resumed, after checking that it belongs to this
// run: its spec is one of `spec_texts` (as stored now, or as format 1 stored it), its seed is the spec's, and
// every parameter and optimizer slot is there with the model's shape. Nothing is changed when it throws.
void restore_checkpoint(const H5Content & c, const std::string & path, const Spec & spec,
                        const std::vector<std::string> & spec_texts, ParamStore & params, Optimizer & opt,
                        std::map<std::string, Tensor> & best_params, LoopState & st) {
    const auto saved_spec = c.attrs.find("spec");
    DL_CHECK(saved_spec != c.attrs.end() &&
                 std::find(spec_texts.begin(), spec_texts.end(), saved_spec->second) != spec_texts.end(),
             ExitCode::bad_input, "{}: written for another spec than this run's", path);
    auto has_int = [&](const char * key) { return c.ints.count(key) > 0; };
    DL_CHECK(has_int("optimizer/iterations") && has_int("state/epoch") && has_int("state/step"),
             ExitCode::bad_input, "{}: the training state is missing", path);
    DL_CHECK(!has_int("state/seed") || c.ints.at("state/seed") == static_cast<int64_t>(spec.seed),
             ExitCode::bad_input, "{}: written with seed {}, the run has seed {}", path,
             c.ints.at("state/seed"), spec.seed);
    const int64_t epoch = c.ints.at("state/epoch");
    DL_CHECK(epoch >= 0 && epoch <= spec.train.epochs && c.ints.at("state/step") >= 0, ExitCode::bad_input,
             "{}: epoch {} is outside this run's {} epochs", path, epoch, spec.train.epochs);
    auto saved = [&](const std::string & key, const Tensor & like) -> const Tensor & {
        const auto it = c.tensors.find(key);
        DL_CHECK(it != c.tensors.end(), ExitCode::bad_input, "{}: {} is missing", path, key);
        DL_CHECK(it->second.shape() == like.shape(), ExitCode::bad_input, "{}: {} has shape {}, the model {}",
                 path, key, to_string(it->second.shape()), to_string(like.shape()));
        return it->second;
    };
    for (const std::string & name : params.names()) saved("params/" + name, params.at(name));
    for (auto & [name, t] : opt.slots()) saved("optimizer/" + name, t);
    for (auto & [name, t] : c.tensors)
        if (name.rfind("best/", 0) == 0) {
            const std::string param = name.substr(5);
            DL_CHECK(params.has(param), ExitCode::bad_input, "{}: {} is not a parameter of the model", path,
                     name);
            saved(name, params.at(param));
        }

    for (const std::string & name : params.names())
        copy_checkpoint_tensor(params.at(name), c.tensors.at("params/" + name), name);
    for (auto & [name, t] : opt.slots()) copy_checkpoint_tensor(t, c.tensors.at("optimizer/" + name), name);
    best_params.clear();
    for (auto & [name, t] : c.tensors)
        if (name.rfind("best/", 0) == 0) best_params[name.substr(5)] = t;
    opt.set_iterations(c.ints.at("optimizer/iterations"));
    params.upload_to_device();
    opt.upload_slots();
    unpack_state(c, spec.train.metrics, st);
}

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

}  // namespace

bool higher_is_better(const std::string & monitor) { return monitor.find("accuracy") != std::string::npos; }

namespace {

// The run, once claimed and locked: what train() marks failed when the run ends with an error.
struct ClaimedRun {
    std::string dir;
    std::optional<RunLock> lock;
};

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
    const Table & table = data.table;
    const Splits & splits = data.splits;
    const Normalizer & norm = data.normalizer;
    const DataInfo & info = data.info;
    check_model(
        spec, info);  // before a version is claimed: a model that cannot be built leaves no empty run behind

    // The version: a new one, or the newest unfinished one with --resume.
    const std::string root = runs_root(o.runs_flag);
    RunRef run;
    bool resuming = false;
    if (o.resume) {
        const std::vector<int64_t> versions = list_versions(root, spec.name);
        if (!versions.empty()) {
            run = {spec.name, versions.back(), version_dir(root, spec.name, versions.back())};
            const nlohmann::json meta = read_meta(run.dir);
            if (meta.value("status", "") == "done") {
                observer.on_note(
                    fmt::format("{}@{} is already done; nothing to resume", spec.name, run.version));
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
            const std::string saved =
                file_exists(run.dir + "/spec.yaml") ? read_file(run.dir + "/spec.yaml") : "";
            // No spec.yaml: killed between claiming the version and writing it; the checkpoints, if any, are
            // checked against the spec one by one (restore_checkpoint).
            if (!saved.empty() && saved != spec_yaml) {
                throw Error(
                    ExitCode::usage,
                    fmt::format(
                        "cannot resume {}@{}: its spec ({}/spec.yaml) differs from this one; "
                        "train a new version without --resume, or resume with the same spec and --set",
                        spec.name, run.version, run.dir));
            }
            resuming = true;
        } else {
            observer.on_note(fmt::format("no version of '{}' to resume; starting version 1", spec.name));
        }
    }
    remove_stale_temp_files(root, spec.name, resuming ? run.version : 0);
    if (!resuming) run = claim_version(root, spec.name);
    claimed.lock.emplace(run.dir);
    claimed.dir = run.dir;
    if (resuming) remove_temp_files_in(run.dir);

    ParamStore params;
    const int threads = o.threads > 0 ? o.threads : ThreadPool::hardware_threads();
    ModelSession session(spec, info, params, threads, backend);
    const int64_t batch = spec.train.batch_size;
    const int64_t n_train = static_cast<int64_t>(splits.train.size());
    int64_t steps_per_epoch = (n_train + batch - 1) / batch;
    if (spec.train.steps_per_epoch > 0)
        steps_per_epoch = std::min(steps_per_epoch, spec.train.steps_per_epoch);
    session.executor(GraphMode::train, std::min(batch, n_train));  // creates and initialises the parameters
    Optimizer opt(spec.train.optimizer, spec.train.clip, params, &session.pool(), backend);
    const LrSchedule schedule(spec.train, steps_per_epoch);
    LoopState st;
    std::map<std::string, Tensor> best_params;
    std::vector<std::string> metric_lines;
    const std::string model_path = run.dir + "/model.h5";
    const std::string metrics_path = run.dir + "/metrics.jsonl";

    if (resuming) {
        // Note [resume sources]: model.h5 is the newest checkpoint; checkpoints/epoch-*.h5 (keep_last) are
        // older ones. The newest one that loads is used; a corrupt or foreign one is skipped with a warning.
        // With checkpoints present but none usable the run is refused: starting over would rewrite
        // metrics.jsonl.
        std::vector<std::string> sources;
        if (file_exists(model_path)) sources.push_back(model_path);
        for (const std::string & p : epoch_checkpoints(run.dir)) sources.push_back(p);
        std::vector<std::string> refused;
        for (const std::string & source : sources) {
            try {
                const H5Content c = read_h5(source);
                restore_checkpoint(c, source, spec, {spec_yaml, stored_spec_yaml}, params, opt, best_params,
                                   st);
            } catch (const Error & e) {
                if (e.code() != ExitCode::bad_input && e.code() != ExitCode::missing_input) throw;
                observer.on_note(
                    fmt::format("warning: cannot resume from {}; trying an older checkpoint", e.what()));
                refused.push_back(source);
                continue;
            }
            observer.on_note(fmt::format("resuming {}@{} from epoch {}, step {}{}", spec.name, run.version,
                                         st.epoch, st.step,
                                         source == model_path ? "" : fmt::format(" ({})", source)));
            break;
        }
        if (sources.empty()) {
            observer.on_note(fmt::format("{}@{} has no checkpoint yet; starting it from the beginning",
                                         spec.name, run.version));
        } else if (refused.size() == sources.size()) {
            throw Error(
                ExitCode::bad_input,
                fmt::format("cannot resume {}@{}: none of its {} checkpoints can be loaded ({}); train a "
                            "new version without --resume",
                            spec.name, run.version, sources.size(), fmt::join(refused, ", ")));
        }
        // Keep the epochs the checkpoint covers; later lines were written after it.
        if (file_exists(metrics_path)) {
            std::ifstream in(metrics_path);
            for (std::string line;
                 std::getline(in, line) && static_cast<int64_t>(metric_lines.size()) < st.epoch;)
                if (!line.empty()) metric_lines.push_back(line + "\n");
        }
    }

    write_file_atomic(run.dir + "/spec.yaml", spec_yaml);
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    {
        const nlohmann::json old = read_meta(run.dir);
        meta["name"] = spec.name;
        meta["version"] = run.version;
        meta["status"] = "running";
        meta["created"] = old.value("created", iso8601_now());
        meta["updated"] = iso8601_now();
        meta["spec_sha256"] = sha256_hex(spec_yaml);
        meta["data_sha256"] = table.sha256;
        meta["dlctl_version"] = DLCTL_VERSION;
        meta["git"] = dl::git_describe();
        meta["device"] = o.backend ? o.backend->name() : device;
        meta["threads"] = threads;
        meta["epochs"] = st.epoch;
        meta["seconds"] = old.value("seconds", 0.0);
        meta["metrics"] = nlohmann::ordered_json::object();
        write_meta(run.dir, meta);
    }
    write_file_atomic(metrics_path, fmt::format("{}", fmt::join(metric_lines, "")));
    observer.on_start(spec, run, n_train, steps_per_epoch);

    const double seconds_before = meta["seconds"].get<double>();
    auto last_checkpoint = std::chrono::steady_clock::now();
    auto save = [&](const char * status) {
        write_h5(model_path,
                 pack_checkpoint(spec, stored_spec_yaml, run, params, opt, best_params, norm, table, st));
        write_file_atomic(metrics_path, fmt::format("{}", fmt::join(metric_lines, "")));
        meta["status"] = status;
        meta["updated"] = iso8601_now();
        meta["epochs"] = st.epoch;
        meta["seconds"] = seconds_before + seconds_since(t0);
        write_meta(run.dir, meta);
        last_checkpoint = std::chrono::steady_clock::now();
    };
    auto keep_history = [&]() {
        if (spec.train.checkpoint.keep_last <= 0) return;
        const fs::path dir = fs::path(run.dir) / "checkpoints";
        fs::create_directories(dir);
        const std::string name = fmt::format("epoch-{:05d}.h5", st.epoch);
        write_h5((dir / name).string(),
                 pack_checkpoint(spec, stored_spec_yaml, run, params, opt, best_params, norm, table, st));
        std::vector<fs::path> all;
        for (auto & e : fs::directory_iterator(dir))
            if (e.path().extension() == ".h5") all.push_back(e.path());
        std::sort(all.begin(), all.end());
        for (size_t i = 0; i + static_cast<size_t>(spec.train.checkpoint.keep_last) < all.size(); ++i)
            fs::remove(all[i]);
    };

    StopSignals signals;
    LocalReplicas replicas;      // Note [data parallelism]
    std::vector<int64_t> order;  // this epoch's rows; outlives the loader, which may still be reading it
    BatchLoader loader(table, info, spec.data.augment, spec.seed, batch);
    TrainStep step(session, opt, replicas, spec.seed);
    const std::vector<std::string> & metrics = spec.train.metrics;
    bool interrupted = false;

    while (st.epoch < spec.train.epochs && !st.stopped_early && !interrupted) {
        const auto epoch_t0 = std::chrono::steady_clock::now();
        order = splits.train;
        if (spec.train.shuffle) {
            const std::vector<int64_t> perm =
                Rng(spec.seed, Rng::stream("shuffle", static_cast<uint64_t>(st.epoch))).permutation(n_train);
            for (int64_t i = 0; i < n_train; ++i)
                order[static_cast<size_t>(i)] =
                    splits.train[static_cast<size_t>(perm[static_cast<size_t>(i)])];
        }
        if (st.batch_in_epoch == 0) st.partial = MetricSums{};
        const int64_t first_batch = st.batch_in_epoch;
        auto rows_of = [&](int64_t b) {
            const int64_t global_begin = b * batch, global_end = std::min(n_train, global_begin + batch);
            return std::tuple{global_begin, global_end, replicas.shard(global_begin, global_end)};
        };
        if (st.batch_in_epoch < steps_per_epoch) {
            const auto [gb, ge, local] = rows_of(st.batch_in_epoch);
            loader.start(order, local.first, local.second, static_cast<uint64_t>(st.step));
        }
        for (int64_t b = st.batch_in_epoch; b < steps_per_epoch; ++b) {
            const auto [global_begin, global_end, local] = rows_of(b);
            // Not structured bindings: the hooks capture them, and clang before 16 cannot capture those.
            const int64_t begin = local.first, end = local.second;
            Executor & ex = session.executor(GraphMode::train, end - begin);
            // On a device, every batch after the epoch's first was gathered and sent during the step before
            // it (Note [double buffers]).
            if (!step.device_step() || b == first_batch) {
                loader.finish(ex);
                if (step.device_step()) ex.upload_inputs();
                if (b + 1 < steps_per_epoch) {  // the next batch is gathered while this step runs
                    const auto [nb, ne, next] = rows_of(b + 1);
                    loader.start(order, next.first, next.second, static_cast<uint64_t>(st.step + 1));
                }
            }
            const double lr = schedule.at(st.step, st.plateau_factor);
            double loss = 0;
            const StepHooks hooks{
                .while_running =
                    [&] {
                        // The next batch goes up while this step computes.
                        if (b + 1 >= steps_per_epoch) return;
                        const auto [nb, ne, next] = rows_of(b + 1);
                        Executor & next_ex = session.executor(GraphMode::train, next.second - next.first);
                        loader.finish(next_ex);
                        next_ex.upload_inputs();
                        if (b + 2 < steps_per_epoch) {
                            const auto [ab, ae, after] = rows_of(b + 2);
                            loader.start(order, after.first, after.second,
                                         static_cast<uint64_t>(st.step + 2));
                        }
                    },
                .on_outputs =
                    [&] {
                        loss = ex.output("loss").f32()[0];
                        if (!std::isfinite(loss)) {
                            meta["status"] = "failed";
                            write_meta(run.dir, meta);
                            throw Error(
                                ExitCode::runtime,
                                fmt::format(
                                    "training diverged: the loss is {} at epoch {}, step {}; lower the "
                                    "learning rate or add clip: {{global_norm: 1.0}}",
                                    loss, st.epoch + 1, st.step + 1));
                        }
                        session.accumulate(ex, table, order, begin, end, st.partial);
                    },
            };
            const double norm_g = step.run(ex, static_cast<uint64_t>(st.step), lr, end - begin,
                                           global_end - global_begin, hooks);
            if (!std::isfinite(norm_g)) {
                meta["status"] = "failed";
                write_meta(run.dir, meta);
                throw Error(ExitCode::runtime,
                            fmt::format("training diverged: a gradient is not finite at epoch {}, step {}",
                                        st.epoch + 1, st.step + 1));
            }
            ++st.step;
            st.batch_in_epoch = b + 1;
            observer.on_batch(st.epoch + 1, b + 1, steps_per_epoch, loss);
            if (signals.requested() && b + 1 < steps_per_epoch) {
                interrupted = true;
                break;
            }
        }
        if (interrupted) break;

        // End of an epoch: validation, schedules, early stopping, logs, checkpoint.
        const double train_seconds = seconds_since(epoch_t0);
        const int64_t trained_rows =
            std::min(n_train, steps_per_epoch * batch) - std::min(n_train, first_batch * batch);
        ++st.epoch;
        st.batch_in_epoch = 0;
        std::map<std::string, double> values = st.partial.means();
        EpochReport report{.epoch = st.epoch, .epochs = spec.train.epochs};
        report.values = metrics_json(values, "", metrics);
        if (!splits.validation.empty()) {
            const auto val = session.evaluate(table, splits.validation).means();
            for (auto & [k, v] : val) values["val_" + k] = v;
            report.values.update(metrics_json(val, "val_", metrics));
        }
        const double lr_now = schedule.at(std::max<int64_t>(0, st.step - 1), st.plateau_factor);
        report.values["lr"] = lr_now;
        auto monitored = [&](const std::string & m) { return values.count(m) ? values.at(m) : NAN; };

        if (spec.train.schedule.type == "reduce_on_plateau") {
            const ScheduleSpec & sc = spec.train.schedule;
            const double v = monitored(sc.monitor);
            if (improved(v, st.plateau_best, sc.min_delta, higher_is_better(sc.monitor))) {
                st.plateau_best = v;
                st.plateau_wait = 0;
            } else if (++st.plateau_wait >= sc.patience) {
                st.plateau_factor *= sc.factor;
                st.plateau_wait = 0;
                observer.on_note(fmt::format("reduce_on_plateau: learning rate now {:.3g}",
                                             schedule.plateau_lr(st.plateau_factor)));
            }
        }
        if (spec.train.early_stopping.enabled) {
            const EarlyStoppingSpec & es = spec.train.early_stopping;
            const double v = monitored(es.monitor);
            if (improved(v, st.early_best, es.min_delta, higher_is_better(es.monitor))) {
                st.early_best = v;
                st.early_wait = 0;
                st.best_epoch = st.epoch;
                if (es.restore_best) params.download_from_device();
                if (es.restore_best)
                    for (const std::string & name : params.names())
                        best_params[name] = [&] {
                            Tensor t(params.at(name).shape());
                            std::copy(params.at(name).f32(), params.at(name).f32() + t.numel(), t.f32());
                            return t;
                        }();
            } else if (++st.early_wait >= es.patience) {
                st.stopped_early = true;
                observer.on_note(fmt::format(
                    "early stopping at epoch {}: {} has not improved for {} epochs (best {:.6g} at epoch {})",
                    st.epoch, es.monitor, es.patience, st.early_best, st.best_epoch));
            }
        }
        report.seconds = seconds_since(epoch_t0);
        nlohmann::ordered_json line;
        line["epoch"] = st.epoch;
        line["step"] = st.step;
        line.update(report.values);
        line["seconds"] = report.seconds;
        report.samples_per_s = train_seconds > 0 ? static_cast<double>(trained_rows) / train_seconds : 0.0;
        line["samples_per_s"] = report.samples_per_s;
        metric_lines.push_back(line.dump() + "\n");
        {  // the log grows by one line per epoch; checkpoints rewrite it whole, atomically
            std::ofstream out(metrics_path, std::ios::app);
            out << metric_lines.back();
        }
        observer.on_epoch(report);

        const CheckpointSpec & cp = spec.train.checkpoint;
        if (cp.keep_best) {
            const double v = monitored(cp.monitor);
            if (improved(v, st.keep_best_value, 0.0, higher_is_better(cp.monitor))) {
                st.keep_best_value = v;
                write_h5(run.dir + "/best.h5", pack_checkpoint(spec, stored_spec_yaml, run, params, opt,
                                                               best_params, norm, table, st));
            }
        }
        const bool last = st.epoch >= spec.train.epochs || st.stopped_early;
        if (!last && st.epoch % cp.every_epochs == 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - last_checkpoint).count() >=
                cp.min_interval_s) {
            save("running");
            keep_history();
        }
        if (signals.requested()) interrupted = true;
    }

    if (interrupted) {
        save("interrupted");
        throw Error(ExitCode::interrupted,
                    fmt::format("interrupted: checkpoint of {}@{} saved at epoch {}, step {}; continue with "
                                "`dlctl train {} --resume`",
                                spec.name, run.version, st.epoch, st.step, o.spec_path));
    }

    if (spec.train.early_stopping.restore_best && !best_params.empty()) {
        for (auto & [name, t] : best_params) copy_checkpoint_tensor(params.at(name), t, name);
        params.upload_to_device();
        observer.on_note(fmt::format("restored the best weights (epoch {})", st.best_epoch));
    }
    // Final metrics: the last epoch's, then the held-out test split.
    TrainResult result{.name = spec.name,
                       .version = run.version,
                       .run_dir = run.dir,
                       .checkpoint = model_path,
                       .epochs = st.epoch};
    if (!metric_lines.empty()) {
        nlohmann::ordered_json last = nlohmann::ordered_json::parse(metric_lines.back());
        for (auto & [k, v] : last.items())
            if (k != "epoch" && k != "step" && k != "seconds" && k != "lr" && k != "samples_per_s")
                result.metrics[k] = v;
    }
    if (!splits.test.empty()) {
        const auto test = session.evaluate(table, splits.test).means();
        result.metrics.update(metrics_json(test, "test_", metrics));
    }
    meta["metrics"] = result.metrics;
    save("done");
    keep_history();
    result.seconds = seconds_since(t0);
    return result;
}

// Note [failed runs]: a run that ends with an error other than an interrupt (which checkpoints and says
// "interrupted") is marked failed, with the exit code and message, while its lock is still held; a run that
// cannot even record that (the disk is full) keeps its last status, which --resume treats the same way.
void mark_failed(const std::string & run_dir, ExitCode code, const std::string & message) {
    try {
        nlohmann::json meta = nlohmann::json::object();
        try {
            meta = read_meta(run_dir);
        } catch (const std::exception &) {
        }
        meta["status"] = "failed";
        meta["updated"] = iso8601_now();
        meta["error"] = {{"exit_code", static_cast<int>(code)}, {"message", message}};
        write_meta(run_dir, meta);
    } catch (const std::exception &) {
    }
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
