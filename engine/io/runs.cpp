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

RunRef resolve_model(const std::string & ref, const std::string & root) {
    std::error_code ec;
    if (fs::is_directory(ref, ec)) {
        const fs::path dir = fs::absolute(ref).lexically_normal();
        RunRef r{.dir = dir.string()};
        const nlohmann::json meta = read_meta(r.dir);
        r.name = meta.value("name", dir.parent_path().filename().string());
        r.version = meta.value("version", int64_t{0});
        if (!file_exists(r.dir + "/model.h5"))
            throw Error(ExitCode::missing_input, fmt::format("{}: no model.h5 in this run directory", ref));
        return r;
    }
    const size_t at = ref.find('@');
    if (at == std::string::npos) {
        throw Error(
            ExitCode::usage,
            fmt::format("'{}' is neither a run directory nor NAME@VERSION (e.g. housing@3, housing@latest)",
                        ref));
    }
    RunRef r{.name = ref.substr(0, at)};
    const std::string which = ref.substr(at + 1);
    const std::vector<int64_t> versions = list_versions(root, r.name);
    if (versions.empty()) {
        const std::string close = [&] {
            std::vector<std::string> names = list_model_names(root);
            for (auto & n : names)
                if (n.size() > 0 &&
                    (n.find(r.name) != std::string::npos || r.name.find(n) != std::string::npos))
                    return n;
            return std::string();
        }();
        throw Error(ExitCode::missing_input,
                    fmt::format("no trained versions of '{}' under {}{}", r.name, root,
                                close.empty() ? "" : fmt::format(" (did you mean '{}'?)", close)));
    }
    if (which == "latest") {
        for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
            const std::string dir = version_dir(root, r.name, *it);
            if (read_meta(dir).value("status", "") == "done") {
                r.version = *it;
                r.dir = dir;
                return r;
            }
        }
        throw Error(ExitCode::missing_input,
                    fmt::format("'{}' has no finished version under {}", r.name, root));
    }
    try {
        size_t used = 0;
        r.version = std::stoll(which, &used);
        if (used != which.size()) throw std::invalid_argument(which);
    } catch (...) {
        throw Error(ExitCode::usage, fmt::format("'{}': expected NAME@VERSION or NAME@latest", ref));
    }
    r.dir = version_dir(root, r.name, r.version);
    if (!fs::is_directory(r.dir, ec))
        throw Error(ExitCode::missing_input, fmt::format("{}: no version {} of '{}' (versions: {})", ref,
                                                         r.version, r.name, fmt::join(versions, ", ")));
    return r;
}

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
