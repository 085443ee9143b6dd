#include "core/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"

namespace dl {

namespace fs = std::filesystem;

std::string temp_path_for(const std::string & path) {
    static thread_local std::mt19937_64 gen(std::random_device{}() ^ static_cast<uint64_t>(getpid()));
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string suffix;
    for (int i = 0; i < 6; ++i) suffix += alphabet[gen() % 36];
    return path + ".tmp-" + suffix;
}

void fsync_path(const std::string & path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error(ExitCode::io, fmt::format("{}: cannot open for sync: {}", path, std::strerror(errno)));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    // Some file systems refuse fsync on directories; that is not data loss.
    if (rc != 0 && err != EINVAL && err != EBADF)
        throw Error(ExitCode::io, fmt::format("{}: fsync failed: {}", path, std::strerror(err)));
}

void commit_temp_file(const std::string & tmp, const std::string & path) {
    try {
        fsync_path(tmp);
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(ExitCode::io, fmt::format("{}: cannot rename into place: {}", path, std::strerror(err)));
    }
    const fs::path parent = fs::path(path).parent_path();
    fsync_path(parent.empty() ? "." : parent.string());
}

namespace {

// Note [fault injection]: DLCTL_FAULT_WRITE=N:kill SIGKILLs the process halfway through its N-th atomic file
// write (the temporary file half written), N:fail fails that write as a full disk does (ENOSPC). The
// crash-loop and disk-full tests use it to reach every write point deterministically; unset, it costs one
// getenv.
enum class WriteFault { none, kill, fail };

WriteFault fault_for_next_write() {
    static const auto [target, fault] = [] {
        const char * env = std::getenv("DLCTL_FAULT_WRITE");
        if (!env) return std::pair{0L, WriteFault::none};
        char * end = nullptr;
        const long n = std::strtol(env, &end, 10);
        const std::string_view mode = end && *end == ':' ? std::string_view(end + 1) : std::string_view();
        return std::pair{n, mode == "kill"   ? WriteFault::kill
                            : mode == "fail" ? WriteFault::fail
                                             : WriteFault::none};
    }();
    static std::atomic<long> writes{0};
    if (fault == WriteFault::none) return WriteFault::none;
    return ++writes == target ? fault : WriteFault::none;
}

}  // namespace

void write_file_atomic(const std::string & path, std::string_view content) {
    const std::string tmp = temp_path_for(path);
    const WriteFault fault = fault_for_next_write();
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(ExitCode::io, fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
    size_t done = 0;
    const size_t stop_at = fault == WriteFault::none ? content.size() : content.size() / 2;
    while (done < stop_at) {
        const ssize_t n = ::write(fd, content.data() + done, stop_at - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw Error(ExitCode::io, fmt::format("{}: write failed: {}", path, std::strerror(err)));
        }
        done += static_cast<size_t>(n);
    }
    if (fault != WriteFault::none) {
        if (fault == WriteFault::kill) ::kill(::getpid(), SIGKILL);
        ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(ExitCode::io,
                    fmt::format("{}: write failed: {} (DLCTL_FAULT_WRITE)", path, std::strerror(ENOSPC)));
    }
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(ExitCode::io, fmt::format("{}: write failed: {}", path, std::strerror(err)));
    }
    commit_temp_file(tmp, path);
}

std::string read_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Error(ExitCode::missing_input,
                    fmt::format("{}: {}", path, fs::exists(path) ? "cannot be read" : "no such file"));
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool file_exists(const std::string & path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec);
}

std::string temp_dir_name(int64_t version) { return fmt::format(".tmp-{}-{}", version, ::getpid()); }

void remove_abandoned_temp_dirs(const std::string & dir) {
    std::error_code ec;
    for (auto & e : fs::directory_iterator(dir, ec)) {
        std::string file = e.path().filename().string();
        if (file.rfind(".tmp-", 0) != 0) continue;
        if (file.ends_with(".old")) file.resize(file.size() - 4);
        const size_t dash = file.rfind('-');
        long pid = 0;
        try {
            pid = std::stol(file.substr(dash + 1));
        } catch (...) {
            continue;
        }
        if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)
            continue;
        std::error_code ignored;
        fs::remove_all(e.path(), ignored);
    }
}

}  // namespace dl
