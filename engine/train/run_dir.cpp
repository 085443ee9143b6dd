#include "train/run_dir.h"

#include <filesystem>
#include <fstream>

#include "core/fs.h"
#include "core/hash.h"
#include "core/version.h"

namespace dl {

namespace fs = std::filesystem;

namespace {

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

}  // namespace

RunChoice choose_run(const std::string & root, const Spec & spec, const std::string & spec_yaml, bool resume,
                     TrainObserver & observer) {
    RunChoice choice;
    if (!resume) return choice;
    RunRef & run = choice.run;
    const std::vector<int64_t> versions = list_versions(root, spec.name);
    if (!versions.empty()) {
        run = {spec.name, versions.back(), version_dir(root, spec.name, versions.back())};
        const nlohmann::json meta = read_meta(run.dir);
        if (meta.value("status", "") == "done") {
            observer.on_note(fmt::format("{}@{} is already done; nothing to resume", spec.name, run.version));
            choice.done = meta;
            return choice;
        }
        const std::string saved =
            file_exists(run.dir + "/spec.yaml") ? read_file(run.dir + "/spec.yaml") : "";
        // No spec.yaml: killed between claiming the version and writing it; the checkpoints, if any, are
        // checked against the spec one by one (restore_checkpoint).
        if (!saved.empty() && saved != spec_yaml) {
            throw Error(
                ExitCode::usage,
                fmt::format("cannot resume {}@{}: its spec ({}/spec.yaml) differs from this one; "
                            "train a new version without --resume, or resume with the same spec and --set",
                            spec.name, run.version, run.dir));
        }
        choice.resuming = true;
    } else {
        observer.on_note(fmt::format("no version of '{}' to resume; starting version 1", spec.name));
    }
    return choice;
}

RunRef claim_run(const std::string & root, const std::string & name, const RunChoice & choice,
                 ClaimedRun & claimed) {
    const bool resuming = choice.resuming;
    RunRef run = choice.run;
    remove_stale_temp_files(root, name, resuming ? run.version : 0);
    if (!resuming) run = claim_version(root, name);
    claimed.lock.emplace(run.dir);
    claimed.dir = run.dir;
    if (resuming) remove_temp_files_in(run.dir);
    return run;
}

std::vector<std::string> resume_run(const RunRef & run, const Spec & spec,
                                    const std::vector<std::string> & spec_texts, ParamStore & params,
                                    Optimizer & opt, LoopState & st, TrainObserver & observer) {
    const std::string model_path = run.dir + "/model.h5";
    const std::string metrics_path = run.dir + "/metrics.jsonl";
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
            restore_checkpoint(c, source, spec, spec_texts, params, opt, st);
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
        observer.on_note(fmt::format("{}@{} has no checkpoint yet; starting it from the beginning", spec.name,
                                     run.version));
    } else if (refused.size() == sources.size()) {
        throw Error(ExitCode::bad_input,
                    fmt::format("cannot resume {}@{}: none of its {} checkpoints can be loaded ({}); train a "
                                "new version without --resume",
                                spec.name, run.version, sources.size(), fmt::join(refused, ", ")));
    }
    // Keep the epochs the checkpoint covers; later lines were written after it.
    std::vector<std::string> metric_lines;
    if (file_exists(metrics_path)) {
        std::ifstream in(metrics_path);
        for (std::string line;
             std::getline(in, line) && static_cast<int64_t>(metric_lines.size()) < st.epoch;)
            if (!line.empty()) metric_lines.push_back(line + "\n");
    }
    return metric_lines;
}

void RunDir::start(const Spec & spec, const std::string & spec_yaml, const std::string & data_sha256,
                   const std::string & device, int threads, int64_t epoch,
                   std::vector<std::string> metric_lines) {
    metric_lines_ = std::move(metric_lines);
    write_file_atomic(run_.dir + "/spec.yaml", spec_yaml);
    {
        const nlohmann::json old = read_meta(run_.dir);
        meta_["name"] = spec.name;
        meta_["version"] = run_.version;
        meta_["status"] = "running";
        meta_["created"] = old.value("created", iso8601_now());
        meta_["updated"] = iso8601_now();
        meta_["spec_sha256"] = sha256_hex(spec_yaml);
        meta_["data_sha256"] = data_sha256;
        meta_["dlctl_version"] = DLCTL_VERSION;
        meta_["git"] = dl::git_describe();
        meta_["device"] = device;
        meta_["threads"] = threads;
        meta_["epochs"] = epoch;
        meta_["seconds"] = old.value("seconds", 0.0);
        meta_["metrics"] = nlohmann::ordered_json::object();
        write_meta(run_.dir, meta_);
    }
    write_file_atomic(run_.dir + "/metrics.jsonl", fmt::format("{}", fmt::join(metric_lines_, "")));
    seconds_before_ = meta_["seconds"].get<double>();
}

void RunDir::append_metrics(std::string line) {
    metric_lines_.push_back(std::move(line));
    // the log grows by one line per epoch; checkpoints rewrite it whole, atomically
    std::ofstream out(run_.dir + "/metrics.jsonl", std::ios::app);
    out << metric_lines_.back();
}

void RunDir::save(const char * status, int64_t epoch, const H5Content & checkpoint) {
    write_h5(model_path(), checkpoint);
    write_file_atomic(run_.dir + "/metrics.jsonl", fmt::format("{}", fmt::join(metric_lines_, "")));
    meta_["status"] = status;
    meta_["updated"] = iso8601_now();
    meta_["epochs"] = epoch;
    meta_["seconds"] =
        seconds_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    write_meta(run_.dir, meta_);
}

void RunDir::keep_epoch(int64_t epoch, int64_t keep_last, const H5Content & checkpoint) {
    const fs::path dir = fs::path(run_.dir) / "checkpoints";
    fs::create_directories(dir);
    const std::string name = fmt::format("epoch-{:05d}.h5", epoch);
    write_h5((dir / name).string(), checkpoint);
    std::vector<fs::path> all;
    for (auto & e : fs::directory_iterator(dir))
        if (e.path().extension() == ".h5") all.push_back(e.path());
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i + static_cast<size_t>(keep_last) < all.size(); ++i) fs::remove(all[i]);
}

void RunDir::save_best(const H5Content & checkpoint) { write_h5(run_.dir + "/best.h5", checkpoint); }

void RunDir::set_failed() {
    meta_["status"] = "failed";
    write_meta(run_.dir, meta_);
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

}  // namespace dl
