#include "io/runs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/json_limits.h"
#include "io/model_labels.h"
#include "spec/spec.h"

namespace dl {

namespace fs = std::filesystem;

std::string runs_root(const std::string & flag) {
    if (!flag.empty()) return fs::absolute(flag).lexically_normal().string();
    if (const char * env = std::getenv("DLCTL_RUNS"); env && *env)
        return fs::absolute(env).lexically_normal().string();
    return fs::absolute("runs").lexically_normal().string();
}

std::string version_dir(const std::string & root, const std::string & name, int64_t version) {
    return (fs::path(root) / name / std::to_string(version)).string();
}

std::vector<int64_t> list_versions(const std::string & root, const std::string & name) {
    std::vector<int64_t> out;
    std::error_code ec;
    for (auto & entry : fs::directory_iterator(fs::path(root) / name, ec)) {
        const std::string s = entry.path().filename().string();
        if (!entry.is_directory() || s.empty() || !std::all_of(s.begin(), s.end(), ::isdigit) || s[0] == '0')
            continue;
        out.push_back(std::stoll(s));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> list_model_names(const std::string & root) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto & entry : fs::directory_iterator(root, ec))
        if (entry.is_directory()) out.push_back(entry.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

RunRef claim_version(const std::string & root, const std::string & name) {
    std::error_code ec;
    fs::create_directories(fs::path(root) / name, ec);
    if (ec)
        throw Error(ExitCode::io, fmt::format("{}: cannot create the runs folder: {}", root, ec.message()));
    const std::vector<int64_t> existing = list_versions(root, name);
    int64_t v = existing.empty() ? 1 : existing.back() + 1;
    // mkdir is atomic: two trains started at once get distinct versions.
    for (;; ++v) {
        const std::string dir = version_dir(root, name, v);
        if (::mkdir(dir.c_str(), 0755) == 0) {
            fsync_path((fs::path(root) / name).string());
            return {name, v, dir};
        }
        if (errno != EEXIST)
            throw Error(ExitCode::io, fmt::format("{}: cannot create: {}", dir, std::strerror(errno)));
    }
}

nlohmann::json read_meta(const std::string & run_dir) {
    const std::string path = run_dir + "/meta.json";
    if (!file_exists(path)) return nlohmann::json::object();
    nlohmann::json meta =
        parse_json_bounded(read_file(path), path, {.max_bytes = size_t{1} << 20, .max_depth = 16});
    // Callers read it with value(), which throws on anything but an object.
    DL_CHECK(meta.is_object(), ExitCode::bad_input, "{}: not a JSON object", path);
    return meta;
}

void write_meta(const std::string & run_dir, const nlohmann::json & meta) {
    write_file_atomic(run_dir + "/meta.json", meta.dump(2) + "\n");
}

namespace {

bool is_number_text(const std::string & s) {
    return !s.empty() && s.size() <= 18 && s[0] != '0' && std::all_of(s.begin(), s.end(), ::isdigit);
}

// A model directory's versions: integer folders (runs/housing/3, export/housing/3).
RunRef version_in(const std::string & model_dir, const std::string & name, int64_t version) {
    RunRef r{
        .name = name, .version = version, .dir = (fs::path(model_dir) / std::to_string(version)).string()};
    r.exported = file_exists(r.dir + "/dlctl.h5") && !file_exists(r.dir + "/meta.json");
    return r;
}

std::string close_model_name(const std::string & name, const std::string & root) {
    for (const std::string & n : list_model_names(root))
        if (!n.empty() && (n.find(name) != std::string::npos || name.find(n) != std::string::npos)) return n;
    return "";
}

}  // namespace

std::vector<int64_t> list_versions_in(const std::string & model_dir) {
    const fs::path dir(model_dir);
    return list_versions(dir.parent_path().string(), dir.filename().string());
}

namespace {
RunRef resolve_model_dir_or_ref(const std::string & ref, const std::string & root);
}  // namespace

std::string model_file_of(const RunRef & run) { return run.dir + (run.exported ? "/dlctl.h5" : "/model.h5"); }

RunRef resolve_model(const std::string & ref, const std::string & root) {
    RunRef r = resolve_model_dir_or_ref(ref, root);
    if (r.exported && !r.name.empty() && r.version > 0) {
        const std::string run_dir = version_dir(root, r.name, r.version);
        if (file_exists(run_dir + "/model.h5") && file_exists(run_dir + "/spec.yaml")) r.trained_in = run_dir;
    }
    return r;
}

namespace {

RunRef resolve_model_dir_or_ref(const std::string & ref, const std::string & root) {
    std::error_code ec;
    if (fs::is_directory(ref, ec)) {
        const fs::path dir = fs::absolute(ref).lexically_normal();
        const std::string name = dir.filename().string();
        RunRef r{.dir = dir.string()};
        if (file_exists(r.dir + "/model.h5") && file_exists(r.dir + "/meta.json")) {
            const nlohmann::json meta = read_meta(r.dir);
            r.name = meta.value("name", dir.parent_path().filename().string());
            r.version = meta.value("version", int64_t{0});
            return r;
        }
        if (file_exists(r.dir + "/dlctl.h5")) {
            // An export (or a pulled) version: DIR/<name>/<version>/.
            r.exported = true;
            r.name = dir.parent_path().filename().string();
            r.version = is_number_text(name) ? std::stoll(name) : 0;
            return r;
        }
        if (file_exists(r.dir + "/model.h5")) {
            r.name = dir.parent_path().filename().string();
            r.version = is_number_text(name) ? std::stoll(name) : 0;
            return r;
        }
        if (!list_versions_in(r.dir).empty() || file_exists(r.dir + "/labels.json"))
            throw Error(ExitCode::usage,
                        fmt::format("{} is a model directory; name one of its versions: {}@latest, {}@3 or "
                                    "{}@stable",
                                    ref, ref, ref, ref));
        throw Error(
            ExitCode::missing_input,
            fmt::format("{}: neither a run directory (model.h5) nor an exported version (dlctl.h5)", ref));
    }
    const size_t at = ref.rfind('@');
    if (at == std::string::npos) {
        throw Error(
            ExitCode::usage,
            fmt::format("'{}' is neither a version directory nor NAME@VERSION, NAME@latest or NAME@LABEL "
                        "(e.g. housing@3, housing@stable, export/housing@stable)",
                        ref));
    }
    const std::string owner = ref.substr(0, at), which = ref.substr(at + 1);
    // NAME is a model under the runs root; anything with a slash is a model directory of its own.
    const bool is_path = owner.find('/') != std::string::npos;
    const std::string model_dir =
        is_path ? fs::absolute(owner).lexically_normal().string() : (fs::path(root) / owner).string();
    const std::string name = fs::path(model_dir).filename().string();
    if (owner.empty() || name.empty() || which.empty() || owner == "." || owner == "..")
        throw Error(ExitCode::usage,
                    fmt::format("'{}': expected NAME@VERSION, NAME@latest or NAME@LABEL", ref));
    const std::vector<int64_t> versions = list_versions_in(model_dir);
    if (versions.empty()) {
        if (is_path)
            throw Error(ExitCode::missing_input, fmt::format("{}: no versions in {}", ref, model_dir));
        const std::string close = close_model_name(name, root);
        throw Error(ExitCode::missing_input,
                    fmt::format("no trained versions of '{}' under {}{}", name, root,
                                close.empty() ? "" : fmt::format(" (did you mean '{}'?)", close)));
    }
    if (which == "latest") {
        for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
            RunRef r = version_in(model_dir, name, *it);
            // A run is finished when its meta says so; an export version is complete once it is in place.
            if (r.exported ? file_exists(r.dir + "/dlctl.h5")
                           : read_meta(r.dir).value("status", "") == "done")
                return r;
        }
        throw Error(ExitCode::missing_input,
                    fmt::format("'{}' has no finished version under {}", name, is_path ? model_dir : root));
    }
    int64_t version = 0;
    if (is_number_text(which)) {
        version = std::stoll(which);
    } else if (is_label_name(which)) {
        const LabelSet labels = read_labels_file(model_dir);
        const std::optional<int64_t> labelled = labels.version_of(which);
        if (!labelled) {
            std::vector<std::string> names;
            for (const auto & [label, v] : labels.versions) names.push_back(label);
            const std::string close = closest_match(which, names);
            throw Error(
                ExitCode::missing_input,
                fmt::format("{}: '{}' has no label '{}' (labels: {}; set one with `dlctl label {} {}=N`){}",
                            ref, name, which,
                            names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")), owner, which,
                            close.empty() ? "" : fmt::format("; did you mean '{}'?", close)));
        }
        version = *labelled;
    } else {
        throw Error(ExitCode::usage,
                    fmt::format("'{}': expected NAME@VERSION, NAME@latest or NAME@LABEL after the '@'", ref));
    }
    RunRef r = version_in(model_dir, name, version);
    if (!fs::is_directory(r.dir, ec))
        throw Error(ExitCode::missing_input, fmt::format("{}: no version {} of '{}' (versions: {})", ref,
                                                         version, name, fmt::join(versions, ", ")));
    return r;
}

}  // namespace

RunLock::RunLock(const std::string & run_dir) {
    const std::string path = run_dir + "/.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
        throw Error(ExitCode::io, fmt::format("{}: cannot create lock: {}", path, std::strerror(errno)));
    for (int attempt = 0; ::flock(fd_, LOCK_EX | LOCK_NB) != 0; ++attempt) {
        if (attempt == 100) {
            ::close(fd_);
            fd_ = -1;
            throw Error(ExitCode::usage,
                        fmt::format("{} is being trained by another dlctl process", run_dir));
        }
        ::usleep(10'000);
    }
}

RunLock::~RunLock() {
    if (fd_ >= 0) ::close(fd_);
}

namespace {

bool is_temp_file(const std::string & file_name) { return file_name.find(".tmp-") != std::string::npos; }

void remove_temp_files_here(const fs::path & dir) {
    std::error_code ec;
    for (auto & e : fs::directory_iterator(dir, ec)) {
        std::error_code ignored;
        if (is_temp_file(e.path().filename().string()) && e.is_regular_file(ignored))
            fs::remove(e.path(), ignored);
    }
}

}  // namespace

void remove_temp_files_in(const std::string & run_dir) {
    remove_temp_files_here(run_dir);
    remove_temp_files_here(fs::path(run_dir) / "checkpoints");
}

void remove_stale_temp_files(const std::string & root, const std::string & name, int64_t except_version) {
    for (int64_t v : list_versions(root, name)) {
        if (v == except_version) continue;
        const std::string dir = version_dir(root, name, v);
        // A version whose lock is free is trained by no one: its temporary files are leftovers. One with no
        // lock file yet has written none (RunLock comes before any write).
        const int fd = ::open((dir + "/.lock").c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) continue;
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) remove_temp_files_in(dir);
        ::close(fd);
    }
}

std::string iso8601_now() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace dl
