#include "oci/image_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/json_limits.h"
#include "core/version.h"
#include "oci/base_image.h"
#include "oci/tar_layer.h"

namespace fs = std::filesystem;

namespace dl::oci {

namespace {

// The user the entrypoint runs as: distroless' "nonroot", so nothing in the container runs as root.
constexpr int kNonRootId = 65532;
constexpr const char * kBinaryPath = "usr/local/bin/dlctl";
constexpr int kServePort = 8501;

struct ExportedVersion {
    std::string dir;  // absolute, no trailing slash
    std::string name;
    int64_t version = 0;
    nlohmann::json signature;
    int64_t created = 0;  // seconds since the epoch
};

std::string rfc3339(int64_t seconds) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Note [image time]: the image's `created` (config, history, labels, and the model layer's mtimes) comes from
// SOURCE_DATE_EPOCH when set (reproducible-builds.org), else from when the version was exported
// (signature.json's mtime), never from the clock: packaging the same export twice gives the same digest. The
// runtime layer uses the epoch itself, so that it is byte-identical for every model and a registry stores it
// once.
int64_t image_time(const std::string & signature_path) {
    if (const char * sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde) {
        char * end = nullptr;
        const long long v = std::strtoll(sde, &end, 10);
        DL_CHECK(*end == '\0' && v >= 0, ExitCode::usage, "SOURCE_DATE_EPOCH={} is not a number of seconds",
                 sde);
        return v;
    }
    struct stat st {};
    DL_CHECK(::stat(signature_path.c_str(), &st) == 0, ExitCode::missing_input, "{}: cannot read it",
             signature_path);
    return st.st_mtim.tv_sec;
}

ExportedVersion read_exported_version(const std::string & dir) {
    std::error_code ec;
    DL_CHECK(
        fs::is_directory(dir, ec), ExitCode::missing_input,
        "{}: no such directory (want an export version directory DIR/<name>/<version>, as `dlctl export` "
        "writes it)",
        dir);
    ExportedVersion v;
    v.dir = fs::absolute(dir).lexically_normal().string();
    while (v.dir.size() > 1 && v.dir.back() == '/') v.dir.pop_back();
    for (const char * file : {"dlctl.h5", "signature.json"})
        DL_CHECK(file_exists(v.dir + "/" + file), ExitCode::bad_input,
                 "{}: not an export version directory: it has no {} (run `dlctl export MODEL --out DIR` and "
                 "package DIR/<name>/<version>)",
                 dir, file);
    const std::string signature_path = v.dir + "/signature.json";
    v.signature =
        parse_json_bounded(read_file(signature_path), signature_path, {.max_bytes = size_t{16} << 20});
    try {
        v.name = v.signature.at("name").get<std::string>();
        v.version = v.signature.at("version").get<int64_t>();
    } catch (const nlohmann::json::exception & e) {
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: not a dlctl signature: {}", signature_path, json_error_text(e)));
    }
    // What goes into the labels, of the types the labels need.
    if (v.signature.contains("metrics") && !v.signature["metrics"].is_object()) v.signature.erase("metrics");
    if (v.signature.contains("spec_sha256") && !v.signature["spec_sha256"].is_string())
        v.signature.erase("spec_sha256");
    static const std::regex kModelName("[A-Za-z0-9][A-Za-z0-9._-]*");
    DL_CHECK(std::regex_match(v.name, kModelName) && v.version > 0, ExitCode::bad_input,
             "{}: invalid model name '{}' or version {}", signature_path, v.name, v.version);
    v.created = image_time(signature_path);
    return v;
}

// Runs `argv` and returns what it printed on stdout, with its exit status.
std::pair<std::string, int> capture_output(const std::vector<std::string> & argv) {
    std::vector<char *> args;  // built before fork: the child only calls async-signal-safe functions
    for (const std::string & a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    int pipe_fds[2];
    DL_CHECK(::pipe2(pipe_fds, O_CLOEXEC) == 0, ExitCode::runtime, "pipe: {}", std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        throw Error(ExitCode::runtime, fmt::format("fork: {}", std::strerror(err)));
    }
    if (pid == 0) {
        ::dup2(pipe_fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(pipe_fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return {out, WIFEXITED(status) ? WEXITSTATUS(status) : 128};
}

// Where a file of the host goes in the image: at its own path, or, on a base image, with the base's symlinked
// directories followed (Note [base images]).
using Placement = std::function<std::string(const std::string &)>;

// A shared library at the path the loader asks for; a symlink such as libz.so.1 stays a symlink to the real
// file beside it. Returns the directory it went to, inside the image.
std::string add_library(LayerBuilder & b, const std::string & lib, const Placement & place) {
    const fs::path requested = fs::path(lib).lexically_normal();
    const fs::path real = fs::canonical(requested);
    const std::string file = place((requested.parent_path() / real.filename()).relative_path().string());
    b.add_file(file, real.string());
    if (real.filename() != requested.filename())
        b.add_symlink(place(requested.relative_path().string()), real.filename().string());
    return "/" + fs::path(file).parent_path().string();
}

// The runtime layer: the serving binary, every library the loader maps for it (`closure`), a passwd/group
// naming the non-root user, and a world-writable /tmp; on a base, those two only where the base has none.
LayerBuilder runtime_layer(const std::string & binary, const std::vector<std::string> & closure,
                           const BaseImage * base, const Placement & place) {
    LayerBuilder b(/*mtime=*/0);  // Note [image time]
    b.add_file(place(kBinaryPath), binary);
    for (const std::string & lib : closure) add_library(b, lib, place);
    if (!base || !base->has(place("etc/passwd"))) {
        b.add_bytes(
            place("etc/passwd"),
            fmt::format("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{0}:{0}:nonroot:/home/nonroot:/"
                        "sbin/nologin\n",
                        kNonRootId),
            0644);
        b.add_bytes(place("etc/group"), fmt::format("root:x:0:\nnonroot:x:{0}:\n", kNonRootId), 0644);
        b.add_directory(place("home/nonroot"), 0755, kNonRootId, kNonRootId);  // its home, its own
    }
    if (!base || !base->has("tmp")) b.add_directory("tmp", 01777);
    return b;
}

// The NVIDIA driver's own libraries: the container toolkit mounts the host's at run time; a copy in the image
// would clash with the host's kernel module.
bool is_driver_library(const std::string & name) {
    return name.starts_with("libcuda.so") || name.starts_with("libnvidia-") || name.starts_with("libnvcuvid");
}

// The --gpu layer: the CUDA plugin beside the binary (where dlctl looks for it) and the libraries of its
// closure that neither the runtime layer nor the base (a CUDA image: cuBLAS, cuDNN) provides. `library_dirs`
// gets the directories those went to, for LD_LIBRARY_PATH.
LayerBuilder cuda_layer(const std::string & plugin, const std::vector<std::string> & runtime_closure,
                        const BaseImage & base, const Placement & place,
                        std::vector<std::string> & library_dirs) {
    LayerBuilder b(/*mtime=*/0);
    b.add_file(place("usr/local/bin/libdlctl_cuda.so"), plugin);
    const std::set<std::string> in_runtime(runtime_closure.begin(), runtime_closure.end());
    for (const std::string & lib : shared_library_closure(plugin)) {
        const std::string name = fs::path(lib).filename().string();
        if (in_runtime.count(lib) || is_driver_library(name) || base.has_file_named(name)) continue;
        const std::string dir = add_library(b, lib, place);
        if (std::find(library_dirs.begin(), library_dirs.end(), dir) == library_dirs.end())
            library_dirs.push_back(dir);
    }
    return b;
}

// A path as it can be shown in a message: bytes that are not printable UTF-8 as \xNN.
std::string printable_path(const std::string & path) {
    std::string out;
    for (size_t i = 0; i < path.size();) {
        const auto c = static_cast<unsigned char>(path[i]);
        const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        bool ok = n > 0 && i + n <= path.size() && !(n == 1 && (c < 0x20 || c == 0x7F));
        for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(path[i + k]) >> 6) == 0x2;
        if (ok) {
            out.append(path, i, n);
            i += n;
        } else {
            out += fmt::format("\\x{:02x}", c);
            ++i;
        }
    }
    return out;
}

bool is_utf8(const std::string & s) {
    // nlohmann's validator: the one that would otherwise throw (exit 70) when the name reaches JSON.
    try {
        (void)nlohmann::json(s).dump();
        return true;
    } catch (const nlohmann::json::exception &) {
        return false;
    }
}

// True when `p` is `root` or below it (both normalised, absolute).
bool is_within(const fs::path & p, const fs::path & root) {
    const fs::path rel = p.lexically_relative(root);
    return !rel.empty() && (rel == "." || *rel.begin() != "..");
}

// Note [model files]: a model directory is input that may come from anyone (a download, a colleague's
// export), and whatever it holds lands in an image that runs in production. So its entries are taken as they
// are on disk, never through a symlink: regular files and directories by their paths below the version
// directory; a symbolic link only when it is relative and leads (after every link it passes through) to
// something inside the version directory, and then it is stored as a link, never as the file it points to. A
// link to an absolute path or out of the directory, a FIFO, socket or device (which would hang or leak the
// host), and a name that is not UTF-8 (tar and JSON need text) are refused with exit 65 naming the file.
LayerBuilder model_layer(const ExportedVersion & v) {
    LayerBuilder b(v.created);
    const std::string base = "models/" + v.name;
    const std::string version_dir = fmt::format("{}/{}", base, v.version);
    b.add_directory(version_dir);
    const fs::path root(v.dir);
    std::error_code ec;
    const fs::path real_root = fs::canonical(root, ec);
    DL_CHECK(!ec, ExitCode::missing_input, "{}: cannot read it: {}", v.dir, ec.message());
    auto refuse = [&](const fs::path & p, const std::string & why) {
        return Error(
            ExitCode::bad_input,
            fmt::format("{}: {}; it cannot be packaged (only files, directories and links inside {})",
                        printable_path(p.string()), why, v.dir));
    };
    // Directory symlinks are not followed: the iterator's default.
    fs::recursive_directory_iterator it(root, ec);
    DL_CHECK(!ec, ExitCode::missing_input, "{}: cannot read it: {}", v.dir, ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        DL_CHECK(!ec, ExitCode::missing_input, "{}: cannot read it: {}", v.dir, ec.message());
        const fs::path & p = it->path();
        const fs::path rel = p.lexically_relative(root);
        if (!is_utf8(rel.string())) throw refuse(p, "its name is not UTF-8");
        if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") throw refuse(p, "it is outside");
        const std::string in_image = version_dir + "/" + rel.string();
        const fs::file_status st = it->symlink_status(ec);
        DL_CHECK(!ec, ExitCode::missing_input, "{}: cannot read it: {}", printable_path(p.string()),
                 ec.message());
        if (fs::is_directory(st)) {
            b.add_directory(in_image);
        } else if (fs::is_regular_file(st)) {
            b.add_file(in_image, p.string());
        } else if (fs::is_symlink(st)) {
            const fs::path target = fs::read_symlink(p, ec);
            DL_CHECK(!ec, ExitCode::missing_input, "{}: cannot read it: {}", printable_path(p.string()),
                     ec.message());
            if (!is_utf8(target.string())) throw refuse(p, "a symbolic link whose target is not UTF-8");
            if (target.is_absolute())
                throw refuse(p, fmt::format("a symbolic link to the absolute path {}",
                                            printable_path(target.string())));
            if (!is_within((p.parent_path() / target).lexically_normal(), root))
                throw refuse(p, fmt::format("a symbolic link to {}, outside the version directory",
                                            printable_path(target.string())));
            // Through every link on the way (a link to a link that leaves), and to something that exists.
            const fs::path resolved = fs::canonical(p, ec);
            if (ec)
                throw refuse(p, fmt::format("a symbolic link to {}, which does not exist",
                                            printable_path(target.string())));
            if (!is_within(resolved, real_root))
                throw refuse(p,
                             fmt::format("a symbolic link to {}, which leads outside the version directory",
                                         printable_path(target.string())));
            b.add_symlink(in_image, target.string());
        } else {
            throw refuse(p, "not a regular file, directory or symbolic link");
        }
    }
    b.add_bytes(base + "/labels.json", nlohmann::json{{"stable", v.version}}.dump() + "\n", 0644);
    return b;
}

std::string platform_architecture(const std::string & platform) {
    // The runtime layer holds this machine's binary and libraries: only its own platform can be packaged.
    DL_CHECK(platform == "linux/amd64", ExitCode::usage,
             "--platform {}: only linux/amd64 (this machine's platform) can be packaged", platform);
    return "amd64";
}

// A blob: bytes, their digest, and what they are.
struct Blob {
    Descriptor descriptor;
    std::string bytes;
};

Blob json_blob(const nlohmann::json & j, const char * media_type) {
    Blob b;
    b.bytes = j.dump();  // serialised once; the digest is of exactly these bytes
    b.descriptor = {.media_type = media_type,
                    .digest = "sha256:" + sha256_hex(b.bytes),
                    .size = static_cast<int64_t>(b.bytes.size())};
    return b;
}

nlohmann::json descriptor_json(const Descriptor & d) {
    return {{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
}

std::string hex_of(const std::string & digest) { return digest.substr(digest.find(':') + 1); }

// Puts the directory `tmp` in `target`'s place in one step: rename(2) when there is none yet, else
// renameat2(RENAME_EXCHANGE) and the old one removed, so a reader never sees half an image.
void publish(const std::string & tmp, const std::string & target) {
    std::error_code ec;
    if (fs::is_directory(target, ec) && fs::is_directory(tmp, ec)) {
        constexpr unsigned kExchange = 2;  // RENAME_EXCHANGE
        DL_CHECK(::syscall(SYS_renameat2, AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), kExchange) == 0,
                 ExitCode::io, "{}: cannot replace it: {}", target, std::strerror(errno));
        fs::remove_all(tmp, ec);
        return;
    }
    DL_CHECK(!fs::exists(target, ec), ExitCode::io, "{}: a file is in the way of the image directory",
             target);
    DL_CHECK(::rename(tmp.c_str(), target.c_str()) == 0, ExitCode::io, "{}: cannot write it: {}", target,
             std::strerror(errno));
}

// A Dockerfile that builds the same image from the files write_tree() puts beside it: FROM the base (pinned
// by digest) or scratch, one COPY per layer (the runtime one shared between models, as in the OCI image) and
// the config's settings.
std::string dockerfile_text(const nlohmann::json & config, const std::string & reference,
                            const std::string & digest, const std::string & from,
                            const std::vector<std::string> & layer_dirs) {
    const nlohmann::json & c = config.at("config");
    std::string s = fmt::format(
        "# Written by `dlctl package --dockerfile`: the files and settings of the OCI image {} ({}).\n"
        "#   docker build -t {} .\n"
        "FROM {}\n",
        reference, digest, reference, from);
    for (const std::string & dir : layer_dirs) s += "COPY " + dir + "/ /\n";
    for (const nlohmann::json & env : c.at("Env")) s += "ENV " + env.get<std::string>() + "\n";
    s += "WORKDIR " + c.at("WorkingDir").get<std::string>() + "\n";
    s += "USER " + c.at("User").get<std::string>() + "\n";
    for (const auto & [port, unused] : c.at("ExposedPorts").items()) s += "EXPOSE " + port + "\n";
    // JSON's string quoting is the Dockerfile's double-quoted form (backslash escapes).
    for (const auto & [key, value] : c.at("Labels").items())
        s += "LABEL " + nlohmann::json(key).dump() + "=" + value.dump() + "\n";
    s += "ENTRYPOINT " + c.at("Entrypoint").dump() + "\n";
    if (c.contains("Cmd")) s += "CMD " + c.at("Cmd").dump() + "\n";
    return s;
}

// Sets NAME=VALUE in a config's Env list, replacing an earlier NAME.
void set_env(nlohmann::json & env, const std::string & name, const std::string & value) {
    for (nlohmann::json & e : env)
        if (e.get<std::string>().starts_with(name + "=")) {
            e = name + "=" + value;
            return;
        }
    env.push_back(name + "=" + value);
}

std::string get_env(const nlohmann::json & env, const std::string & name) {
    for (const nlohmann::json & e : env)
        if (const std::string s = e.get<std::string>(); s.starts_with(name + "="))
            return s.substr(name.size() + 1);
    return "";
}

bool is_root_user(const std::string & user) {
    const std::string name = user.substr(0, user.find(':'));
    return name.empty() || name == "0" || name == "root";
}

// Note [base images]: dlctl's layers go on top of the base's, which are reused as they are (same digests, so
// a registry that has the base stores nothing new). Files land where the base's directory symlinks lead (a
// usr-merged base has lib -> usr/lib; writing a real lib/ would shadow the whole of /usr/lib), and the base's
// /etc/passwd and /tmp are kept. The runtime layer still brings dlctl's own shared libraries (Debian 12's) at
// their paths: the serving binary needs the versions it was linked against, and glibc is backward compatible,
// so the base's programs keep working on a base with the same or an older glibc. The config keeps the base's
// Env, WorkingDir, Volumes, StopSignal, ExposedPorts and labels (dlctl's labels win); its Cmd and Healthcheck
// are dropped (they name the base's programs, and a Cmd would become arguments of dlctl's Entrypoint); its
// User is kept unless it is root, which becomes dlctl's non-root user.
nlohmann::json container_config(const nlohmann::json & labels, const std::vector<std::string> & entrypoint,
                                const BaseImage * base, const std::vector<std::string> & library_dirs,
                                bool gpu) {
    const std::string port = fmt::format("{}/tcp", kServePort);
    const std::string non_root = fmt::format("{0}:{0}", kNonRootId);
    if (!base)
        return {{"User", non_root},         {"Env", {"PATH=/usr/local/bin:/usr/bin:/bin"}},
                {"Entrypoint", entrypoint}, {"ExposedPorts", {{port, nlohmann::json::object()}}},
                {"WorkingDir", "/"},        {"Labels", labels}};
    nlohmann::json c = base->pulled.config.value("config", nlohmann::json::object());
    if (!c.is_object()) c = nlohmann::json::object();
    for (const char * dropped : {"Cmd", "Healthcheck", "Entrypoint", "OnBuild", "ArgsEscaped"})
        c.erase(dropped);
    if (!c.contains("User") || !c["User"].is_string() || is_root_user(c["User"].get<std::string>()))
        c["User"] = non_root;
    if (!c.contains("Env") || !c["Env"].is_array()) c["Env"] = nlohmann::json::array();
    nlohmann::json & env = c["Env"];
    const std::string path = get_env(env, "PATH");
    if (path.empty())
        set_env(env, "PATH", "/usr/local/bin:/usr/bin:/bin");
    else if (path.find("/usr/local/bin") == std::string::npos)
        set_env(env, "PATH", "/usr/local/bin:" + path);
    if (!library_dirs.empty()) {
        const std::string before = get_env(env, "LD_LIBRARY_PATH");
        set_env(env, "LD_LIBRARY_PATH",
                fmt::format("{}{}{}", before, before.empty() ? "" : ":", fmt::join(library_dirs, ":")));
    }
    if (gpu) {
        // What the NVIDIA container toolkit reads to give the container the GPUs and the driver's libraries.
        if (get_env(env, "NVIDIA_VISIBLE_DEVICES").empty()) set_env(env, "NVIDIA_VISIBLE_DEVICES", "all");
        if (get_env(env, "NVIDIA_DRIVER_CAPABILITIES").empty())
            set_env(env, "NVIDIA_DRIVER_CAPABILITIES", "compute,utility");
    }
    c["Entrypoint"] = entrypoint;
    if (!c.contains("ExposedPorts") || !c["ExposedPorts"].is_object())
        c["ExposedPorts"] = nlohmann::json::object();
    c["ExposedPorts"][port] = nlohmann::json::object();
    if (!c.contains("WorkingDir") || !c["WorkingDir"].is_string() ||
        c["WorkingDir"].get<std::string>().empty())
        c["WorkingDir"] = "/";
    nlohmann::json merged =
        c.contains("Labels") && c["Labels"].is_object() ? c["Labels"] : nlohmann::json::object();
    for (const auto & [k, v] : labels.items()) merged[k] = v;
    c["Labels"] = merged;
    return c;
}

// A file of the image layout: bytes in memory, or a blob already on disk (a base layer in the cache).
struct LayoutFile {
    std::string name;
    const std::string * bytes = nullptr;
    fs::path source;
};

// Into a directory that is published whole: a cached blob is hard-linked when it can be (same file system).
void write_layout_file(const std::string & dir, const LayoutFile & f) {
    const std::string target = dir + "/" + f.name;
    if (f.bytes) {
        write_file_atomic(target, *f.bytes);
        return;
    }
    std::error_code ec;
    fs::create_hard_link(f.source, target, ec);
    if (ec) fs::copy_file(f.source, target, fs::copy_options::overwrite_existing, ec);
    DL_CHECK(!ec, ExitCode::io, "{}: cannot write it: {}", target, ec.message());
}

}  // namespace

ImageReference parse_image_reference(const std::string & ref) {
    // The distribution spec's grammar: lower-case path components, an optional registry host[:port] first,
    // and a tag of up to 128 word characters, dots and dashes.
    static const std::regex kName(
        R"(((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)?)"
        R"([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)");
    static const std::regex kTag(R"([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
    const size_t slash = ref.rfind('/');
    const size_t colon = ref.rfind(':');
    DL_CHECK(colon != std::string::npos && (slash == std::string::npos || colon > slash), ExitCode::usage,
             "--tag '{}': want NAME:TAG, e.g. housing:1 or registry.example.com/team/housing:1", ref);
    ImageReference r{.name = ref.substr(0, colon), .tag = ref.substr(colon + 1)};
    DL_CHECK(std::regex_match(r.name, kName), ExitCode::usage,
             "--tag '{}': invalid image name '{}' (lower-case letters, digits and . _ - separated by /)", ref,
             r.name);
    DL_CHECK(std::regex_match(r.tag, kTag), ExitCode::usage,
             "--tag '{}': invalid tag '{}' (up to 128 letters, digits, _ . -, not starting with . or -)", ref,
             r.tag);
    return r;
}

std::vector<std::string> shared_library_closure(const std::string & binary) {
    DL_CHECK(file_exists(binary), ExitCode::missing_input, "{}: no such file", binary);
    const auto [out, status] = capture_output({"ldd", binary});
    if (status != 0 && out.find("not a dynamic executable") != std::string::npos) return {};  // static
    DL_CHECK(status == 0, ExitCode::runtime, "ldd {} failed (exit {}): is ldd (Debian: libc-bin) installed?",
             binary, status);
    // Lines look like
    //   libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)
    //   /lib64/ld-linux-x86-64.so.2 (0x...)
    //   linux-vdso.so.1 (0x...)         in the kernel: no file
    //   libfoo.so => not found
    std::set<std::string> libs;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        DL_CHECK(line.find("not found") == std::string::npos, ExitCode::bad_input,
                 "{}: a shared library it needs is missing: {}", binary, line);
        const size_t arrow = line.find("=> ");
        const size_t start = line.find('/', arrow == std::string::npos ? 0 : arrow);
        if (start == std::string::npos) continue;
        const size_t end = line.find(" (", start);
        libs.insert(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
    }
    return {libs.begin(), libs.end()};
}

ImageResult write_image(const ImageOptions & o) {
    const ImageReference ref = parse_image_reference(o.reference);
    const std::string architecture = platform_architecture(o.platform);
    const ExportedVersion model = read_exported_version(o.version_dir);
    DL_CHECK(!o.runtime_binary.empty() && file_exists(o.runtime_binary), ExitCode::missing_input,
             "{}: the serving binary is missing (build the dlctl-serve target: it is packaged as "
             "/usr/local/bin/dlctl)",
             o.runtime_binary.empty() ? std::string("dlctl-serve") : o.runtime_binary);
    const bool has_base = !o.base.empty() && o.base != "scratch";
    DL_CHECK(!o.gpu || has_base, ExitCode::usage,
             "--gpu needs --base: a CUDA image in a registry that provides cuBLAS and cuDNN (e.g. "
             "nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04, mirrored into your registry)");
    const std::string cuda_plugin = (fs::path(o.runtime_binary).parent_path() / "libdlctl_cuda.so").string();
    DL_CHECK(!o.gpu || file_exists(cuda_plugin), ExitCode::missing_input,
             "{}: the CUDA plugin is missing (--gpu needs a dlctl built with DLCTL_CUDA=ON)", cuda_plugin);

    std::optional<BaseImage> base;
    if (has_base)
        base = load_base_image(o.base, o.registry, o.cache.empty() ? cache_dir() : o.cache, o.platform);
    const BaseImage * base_ptr = base ? &*base : nullptr;
    const Placement place = [&](const std::string & path) { return base ? base->resolve(path) : path; };

    const std::vector<std::string> closure = shared_library_closure(o.runtime_binary);
    std::vector<std::string> library_dirs;
    std::vector<std::pair<std::string, LayerBuilder>> our_layers;  // build-context directory, files
    our_layers.emplace_back("runtime", runtime_layer(o.runtime_binary, closure, base_ptr, place));
    if (o.gpu) our_layers.emplace_back("cuda", cuda_layer(cuda_plugin, closure, *base, place, library_dirs));
    our_layers.emplace_back("model", model_layer(model));

    // Our layers are written (streamed: Note [streamed layers]) straight into the directory that becomes the
    // image, or, for a docker-archive, a scratch directory beside it; either is removed if anything fails.
    const bool archive = o.format == ImageFormat::docker_archive;
    const std::string out =
        o.out.empty() ? fmt::format("{}-{}.{}", model.name, model.version, archive ? "tar" : "oci") : o.out;
    ImageResult r;
    r.path = fs::absolute(out).lexically_normal().string();
    while (r.path.size() > 1 && r.path.back() == '/') r.path.pop_back();
    const std::string tmp = temp_path_for(r.path);
    struct RemoveScratch {
        std::string dir;
        ~RemoveScratch() {
            std::error_code ec;
            if (!dir.empty()) fs::remove_all(dir, ec);
        }
    } remove_scratch{tmp};
    std::error_code ec;
    fs::create_directories(tmp + "/blobs/sha256", ec);
    DL_CHECK(!ec, ExitCode::io, "{}: cannot create it: {}", tmp, ec.message());
    std::vector<Layer> layers;
    for (const auto & [role, files] : our_layers) {
        Layer layer = files.build(tmp + "/blobs/sha256/" + role + ".partial");
        const fs::path blob = tmp + "/blobs/sha256/" + hex_of(layer.digest);
        fs::rename(layer.path, blob, ec);
        DL_CHECK(!ec, ExitCode::io, "{}: cannot write it: {}", blob.string(), ec.message());
        layer.path = blob;
        layers.push_back(std::move(layer));
    }

    const std::string created = rfc3339(model.created);
    nlohmann::json labels = {
        {"org.opencontainers.image.created", created},
        {"org.opencontainers.image.version", ref.tag},
        {"org.opencontainers.image.revision", git_describe()},
        {"org.opencontainers.image.title", model.name},
        {"dlctl.model.name", model.name},
        {"dlctl.model.version", std::to_string(model.version)},
        {"dlctl.model.metrics", model.signature.value("metrics", nlohmann::json::object()).dump()},
        {"dlctl.model.spec_sha256", model.signature.value("spec_sha256", std::string())},
    };
    if (base) {
        labels["org.opencontainers.image.base.name"] = base->pulled.reference;
        labels["org.opencontainers.image.base.digest"] = base->pulled.manifest_digest;
    }
    for (const auto & [k, v] : o.labels) labels[k] = v;
    const std::vector<std::string> entrypoint = {
        "/usr/local/bin/dlctl",    "serve", "/models/" + model.name, "--host", "0.0.0.0", "--port",
        std::to_string(kServePort)};
    nlohmann::json diff_ids = nlohmann::json::array(), history = nlohmann::json::array();
    if (base) {
        diff_ids = base->pulled.config["rootfs"]["diff_ids"];
        history = base->pulled.config.value("history", nlohmann::json::array());
    }
    for (size_t i = 0; i < layers.size(); ++i) {
        diff_ids.push_back(layers[i].diff_id);
        const std::string & role = our_layers[i].first;
        const std::string what = role == "runtime" ? "runtime (dlctl serve and its shared libraries)"
                                 : role == "cuda"
                                     ? "CUDA plugin and the libraries the base lacks"
                                     : fmt::format("model {} version {}", model.name, model.version);
        history.push_back({{"created", created}, {"created_by", "dlctl package: " + what}});
    }
    const nlohmann::json config = {
        {"created", created},
        {"architecture", architecture},
        {"os", "linux"},
        {"config", container_config(labels, entrypoint, base_ptr, library_dirs, o.gpu)},
        {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
        {"history", history},
    };
    const Blob config_blob = json_blob(config, kConfigMediaType);

    r.reference = o.reference;
    r.tag = ref.tag;
    r.config = config_blob.descriptor;
    std::vector<LayoutFile> files;
    nlohmann::json layer_descriptors = nlohmann::json::array();
    if (base) {
        r.base_reference = base->pulled.reference;
        r.base_digest = base->pulled.manifest_digest;
        for (const PulledLayer & l : base->pulled.layers) {
            r.layers.push_back(
                {.media_type = oci_layer_media_type(l.media_type), .digest = l.digest, .size = l.size});
            r.layer_roles.push_back("base");
            files.push_back({.name = "blobs/sha256/" + hex_of(l.digest), .source = l.path});
        }
    }
    for (size_t i = 0; i < layers.size(); ++i) {
        r.layers.push_back(
            {.media_type = kLayerMediaType, .digest = layers[i].digest, .size = layers[i].size});
        r.layer_roles.push_back(our_layers[i].first);
        files.push_back({.name = "blobs/sha256/" + hex_of(layers[i].digest), .source = layers[i].path});
    }
    for (const Descriptor & d : r.layers) layer_descriptors.push_back(descriptor_json(d));
    nlohmann::json manifest = {{"schemaVersion", 2},
                               {"mediaType", kManifestMediaType},
                               {"config", descriptor_json(config_blob.descriptor)},
                               {"layers", layer_descriptors}};
    if (base)
        manifest["annotations"] = {{"org.opencontainers.image.base.name", r.base_reference},
                                   {"org.opencontainers.image.base.digest", r.base_digest}};
    const Blob manifest_blob = json_blob(manifest, kManifestMediaType);
    r.digest = manifest_blob.descriptor.digest;
    r.size = manifest_blob.descriptor.size + config_blob.descriptor.size;
    for (const Descriptor & d : r.layers) r.size += d.size;

    // The manifest is listed twice, with the same digest: ref.name TAG is the OCI convention (`oci:DIR:TAG`);
    // ref.name NAME:TAG lets `oci:DIR:NAME:TAG` resolve too, which podman turns into the image's name (it
    // otherwise names the image after DIR's path, and refuses one with capitals).
    nlohmann::json index_entries = nlohmann::json::array();
    for (const std::string & name : {ref.tag, o.reference}) {
        nlohmann::json entry = descriptor_json(manifest_blob.descriptor);
        entry["annotations"] = {{"org.opencontainers.image.ref.name", name},
                                {"io.containerd.image.name", o.reference}};
        entry["platform"] = {{"architecture", architecture}, {"os", "linux"}};
        index_entries.push_back(std::move(entry));
    }
    const nlohmann::json index = {
        {"schemaVersion", 2}, {"mediaType", kIndexMediaType}, {"manifests", index_entries}};
    const std::string oci_layout = nlohmann::json{{"imageLayoutVersion", "1.0.0"}}.dump();

    // The files of the layout: the same in the directory and in the docker-archive, which also carries
    // docker's manifest.json (as `docker save` has done since Docker 25), so `docker load`, `podman load`,
    // skopeo and OCI tools all read it.
    files.push_back({.name = "oci-layout", .bytes = &oci_layout});
    files.push_back(
        {.name = "blobs/sha256/" + hex_of(config_blob.descriptor.digest), .bytes = &config_blob.bytes});
    files.push_back(
        {.name = "blobs/sha256/" + hex_of(manifest_blob.descriptor.digest), .bytes = &manifest_blob.bytes});
    const std::string index_bytes = index.dump();
    files.push_back({.name = "index.json", .bytes = &index_bytes});

    if (!o.dockerfile_dir.empty()) {
        const std::string dir = fs::absolute(o.dockerfile_dir).lexically_normal().string();
        const std::string context = temp_path_for(dir);
        try {
            std::vector<std::string> layer_dirs;
            for (const auto & [role, layer_files] : our_layers) {
                layer_files.write_tree(context + "/" + role);
                layer_dirs.push_back(role);
            }
            const std::string from =
                base ? fmt::format("{}/{}@{}", parse_registry_reference(o.base).registry,
                                   parse_registry_reference(o.base).repository, r.base_digest)
                     : "scratch";
            write_file_atomic(context + "/Dockerfile",
                              dockerfile_text(config, o.reference, r.digest, from, layer_dirs));
            publish(context, dir);
        } catch (...) {
            fs::remove_all(context, ec);
            throw;
        }
    }

    if (archive) {
        nlohmann::json docker_layers = nlohmann::json::array();
        for (const Descriptor & d : r.layers) docker_layers.push_back("blobs/sha256/" + hex_of(d.digest));
        const std::string docker_manifest =
            nlohmann::json::array({{{"Config", "blobs/sha256/" + hex_of(config_blob.descriptor.digest)},
                                    {"RepoTags", {o.reference}},
                                    {"Layers", docker_layers}}})
                .dump();
        LayerBuilder tar(model.created);
        // Blobs are streamed from their files (ours in the scratch directory, the base's in the cache).
        for (const LayoutFile & f : files) {
            if (f.bytes)
                tar.add_bytes(f.name, *f.bytes, 0644);
            else
                tar.add_file(f.name, f.source.string());
        }
        tar.add_bytes("manifest.json", docker_manifest, 0644);
        DL_CHECK(!fs::is_directory(r.path, ec), ExitCode::io, "{}: a directory is in the way of the archive",
                 r.path);
        const std::string archive_tmp = temp_path_for(r.path);
        try {
            tar.write_tar(archive_tmp);
            commit_temp_file(archive_tmp, r.path);
        } catch (...) {
            fs::remove(archive_tmp, ec);
            throw;
        }
        return r;
    }
    for (const LayoutFile & f : files)
        if (f.bytes || f.source.parent_path() != fs::path(tmp + "/blobs/sha256")) write_layout_file(tmp, f);
    publish(tmp, r.path);
    remove_scratch.dir.clear();  // published: it is the image now
    return r;
}

std::string default_serving_binary() {
    if (const char * env = std::getenv("DLCTL_SERVE_BINARY"); env && *env) return env;
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? "dlctl-serve" : (self.parent_path() / "dlctl-serve").string();
}

}  // namespace dl::oci
