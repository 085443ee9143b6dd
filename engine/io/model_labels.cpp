#include "io/model_labels.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/json_limits.h"
#include "core/text.h"
#include "io/runs.h"
#include "spec/spec.h"

// Note [labels and history]: labels.json is the one thing that moves traffic, so it is only ever replaced whole
// (write_file_atomic) and every reader refuses a file it cannot take entirely: `dlctl serve` keeps the labels it
// read last and shows why (model status, /metrics), the CLI exits 65 naming the file. history.jsonl is the audit
// trail: each change appends one line, under the same lock as the labels' read-modify-write, written with one
// write() and fsync'd before labels.json is replaced — a change is never in effect without its entry. The
// lock is flock on MODEL_DIR/.labels.lock, so four processes labelling at once queue and lose nothing.

namespace dl {

namespace fs = std::filesystem;

namespace {

constexpr const char * kCanaryPercentKey = "canary_percent";
constexpr const char * kShadowKey = "shadow";
constexpr size_t kMaxLabelsBytes = 64 << 10;
constexpr size_t kMaxLabels = 256;
constexpr int64_t kMaxVersion = 999'999'999'999'999'999;
constexpr size_t kMaxHistoryBytes = size_t{256} << 20;
constexpr size_t kMaxHistoryLineBytes = 64 << 10;

const std::vector<std::string> & well_known_labels() {
    static const std::vector<std::string> names = {"stable", "canary"};
    return names;
}

// The candidate `name` is a slip of the keyboard away from: close by edit distance, about as long, and not
// an extension of it ("canary2" and "stable-eu" are labels of their own; "stabel" and "stble" are typos).
std::string typo_among(const std::string & name, const std::vector<std::string> & candidates) {
    const std::string close = closest_match(name, candidates);
    if (close.empty() || close == name) return "";
    const size_t longer = std::max(close.size(), name.size()), shorter = std::min(close.size(), name.size());
    if (longer - shorter > 1) return "";
    if (name.starts_with(close) || close.starts_with(name)) return "";
    return close;
}

std::string labels_path(const std::string & model_dir) { return model_dir + "/" + kLabelsFile; }
std::string history_path(const std::string & model_dir) { return model_dir + "/" + kHistoryFile; }

std::string file_sha256(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "";
    Sha256 h;
    std::vector<char> buffer(1 << 20);
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        h.update(buffer.data(), static_cast<size_t>(in.gcount()));
    }
    return "sha256:" + h.hex();
}

std::string version_digest(const std::string & model_dir, int64_t version) {
    const std::string dir = (fs::path(model_dir) / std::to_string(version)).string();
    return file_sha256(model_file_of(RunRef{.dir = dir, .exported = file_exists(dir + "/dlctl.h5")}));
}

std::string current_user() {
    if (const passwd * pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
    if (const char * user = std::getenv("USER"); user && *user) return user;
    return std::to_string(::geteuid());
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "";
    return buf;
}

// flock with a deadline: a process that holds the lock for long is a stuck one, and saying so beats hanging.
class LabelsLock {
public:
    explicit LabelsLock(const std::string & model_dir) {
        const std::string path = model_dir + "/.labels.lock";
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0)
            throw Error(ExitCode::io,
                        fmt::format("{}: cannot create the lock: {}", path, std::strerror(errno)));
        for (int attempt = 0; ::flock(fd_, LOCK_EX | LOCK_NB) != 0; ++attempt) {
            if (attempt == 3000) {
                ::close(fd_);
                throw Error(ExitCode::unavailable,
                            fmt::format("{}: another dlctl process has held it for 30 s", path));
            }
            ::usleep(10'000);
        }
    }
    ~LabelsLock() { ::close(fd_); }
    LabelsLock(const LabelsLock &) = delete;
    LabelsLock & operator=(const LabelsLock &) = delete;

private:
    int fd_ = -1;
};

std::optional<int64_t> optional_version(const nlohmann::json & j, const char * key) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer())
        throw std::runtime_error(fmt::format("\"{}\" is not a version number", key));
    return it->get<int64_t>();
}

void append_history(const std::string & model_dir, const std::vector<HistoryEntry> & entries) {
    std::string text;
    for (const HistoryEntry & e : entries) text += e.to_json().dump() + "\n";
    const std::string path = history_path(model_dir);
    const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(ExitCode::io, fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    // A torn last line is an entry whose change never took effect (labels.json is replaced only after the entry
    // is synced): cut it off, so that it neither swallows this entry's first bytes nor becomes a corrupt line.
    if (const off_t size = ::lseek(fd, 0, SEEK_END); size > 0) {
        off_t keep = size;
        char chunk[4096];
        while (keep > 0) {
            const off_t from = std::max<off_t>(0, keep - static_cast<off_t>(sizeof chunk));
            const ssize_t n = ::pread(fd, chunk, static_cast<size_t>(keep - from), from);
            if (n <= 0) break;
            const char * end = chunk + n;
            const char * newline = nullptr;
            for (const char * c = end; c != chunk; --c)
                if (c[-1] == '\n') {
                    newline = c;
                    break;
                }
            if (newline) {
                keep = from + (newline - chunk);
                break;
            }
            keep = from;
        }
        if (keep != size && ::ftruncate(fd, keep) != 0) {
            const int err = errno;
            ::close(fd);
            throw Error(ExitCode::io,
                        fmt::format("{}: cannot cut off a torn last line: {}", path, std::strerror(err)));
        }
    }
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            throw Error(ExitCode::io, fmt::format("{}: cannot append: {}", path, std::strerror(err)));
        }
        done += static_cast<size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) throw Error(ExitCode::io, fmt::format("{}: cannot sync: {}", path, std::strerror(errno)));
}

}  // namespace

std::optional<int64_t> LabelSet::version_of(const std::string & label) const {
    const auto it = versions.find(label);
    if (it == versions.end()) return std::nullopt;
    return it->second;
}

bool is_label_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name == "latest") return false;
    if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

std::string label_typo_of(const std::string & name, const LabelSet & existing) {
    if (existing.versions.contains(name)) return "";
    std::vector<std::string> known = well_known_labels();
    for (const auto & [label, version] : existing.versions) known.push_back(label);
    return typo_among(name, known);
}

LabelSet parse_labels(std::string_view text, const std::string & path, const LabelSet * previous) {
    const nlohmann::json j = parse_json_bounded(text, path, {.max_bytes = kMaxLabelsBytes, .max_depth = 2});
    auto refuse = [&](const std::string & why) {
        throw Error(ExitCode::bad_input, fmt::format("{}: {}", path, why));
    };
    if (!j.is_object())
        refuse(R"(expected an object such as {"stable": 1, "canary": 2, "canary_percent": 10})");
    if (j.size() > kMaxLabels) refuse(fmt::format("{} keys; at most {} labels", j.size(), kMaxLabels));
    LabelSet labels;
    std::vector<std::string> label_names;
    for (const auto & [key, value] : j.items()) {
        if (key == kCanaryPercentKey) {
            if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0 ||
                value.get<double>() > 100)
                refuse(fmt::format("\"{}\" must be a number from 0 to 100, not {}", key, value.dump()));
            labels.canary_percent = value.get<double>();
            continue;
        }
        if (key == kShadowKey) {
            if (!value.is_boolean())
                refuse(fmt::format("\"{}\" must be true or false, not {}", key, value.dump()));
            labels.shadow = value.get<bool>();
            continue;
        }
        if (const std::string close = closest_match(key, {kCanaryPercentKey, kShadowKey}); !close.empty())
            refuse(fmt::format("unknown key \"{}\"; did you mean \"{}\"?", key, close));
        if (!is_label_name(key))
            refuse(
                fmt::format("\"{}\" cannot be a label name (1 to 64 of A-Z a-z 0-9 . _ -, not a number, not "
                            "\"latest\")",
                            printable(key)));
        int64_t version = 0;
        if (value.is_number_unsigned() && value.get<uint64_t>() <= static_cast<uint64_t>(kMaxVersion))
            version = value.get<int64_t>();
        else if (const std::string * text = value.get_ptr<const std::string *>();
                 text && !text->empty() && text->size() <= 18 &&
                 std::all_of(text->begin(), text->end(), ::isdigit))
            version = std::stoll(*text);
        if (version <= 0)
            refuse(fmt::format("label \"{}\": the version must be a positive number, not {}", key,
                               value.dump()));
        labels.versions[key] = version;
    }
    if (previous) {
        // A label renamed by a typo would silently send its traffic elsewhere: refuse a new label that is one
        // typo away from one this file dropped (or from stable / canary).
        for (const auto & [label, version] : labels.versions) {
            if (previous->versions.contains(label)) continue;
            std::vector<std::string> dropped;
            for (const auto & [old_label, old_version] : previous->versions)
                if (!labels.versions.contains(old_label)) dropped.push_back(old_label);
            for (const std::string & known : well_known_labels())
                if (!labels.versions.contains(known) && !previous->versions.contains(known))
                    dropped.push_back(known);
            if (const std::string close = typo_among(label, dropped); !close.empty())
                refuse(fmt::format("new label \"{}\" looks like a typo: did you mean \"{}\"?", label, close));
        }
    }
    return labels;
}

std::string render_labels(const LabelSet & labels) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const auto & [label, version] : labels.versions) j[label] = version;
    if (labels.canary_percent) j[kCanaryPercentKey] = *labels.canary_percent;
    if (labels.shadow) j[kShadowKey] = true;
    return j.dump(2) + "\n";
}

LabelSet read_labels_file(const std::string & model_dir) {
    const std::string path = labels_path(model_dir);
    if (!file_exists(path)) return {};
    return parse_labels(read_file(path), path);
}

nlohmann::ordered_json HistoryEntry::to_json() const {
    nlohmann::ordered_json j;
    j["time"] = time;
    j["user"] = user;
    j["host"] = host;
    j["action"] = action;
    j["label"] = label;
    j["from"] = from ? nlohmann::ordered_json(*from) : nlohmann::ordered_json();
    j["to"] = to ? nlohmann::ordered_json(*to) : nlohmann::ordered_json();
    j["reason"] = reason;
    nlohmann::ordered_json d = nlohmann::ordered_json::object();
    for (const auto & [version, digest] : digests) d[std::to_string(version)] = digest;
    j["digests"] = d;
    if (!details.empty()) j["details"] = details;
    return j;
}

std::vector<HistoryEntry> read_history(const std::string & model_dir) {
    const std::string path = history_path(model_dir);
    std::vector<HistoryEntry> out;
    if (!file_exists(path)) return out;
    std::error_code ec;
    if (fs::file_size(path, ec) > kMaxHistoryBytes)
        throw Error(ExitCode::bad_input, fmt::format("{}: larger than {} MiB", path, kMaxHistoryBytes >> 20));
    const std::string text = read_file(path);
    size_t line_no = 0;
    for (size_t start = 0; start < text.size();) {
        ++line_no;
        const size_t end = text.find('\n', start);
        if (end == std::string::npos) break;  // torn by a crash while appending: never committed
        const std::string_view line(text.data() + start, end - start);
        start = end + 1;
        if (line.empty()) continue;
        const std::string where = fmt::format("{}:{}", path, line_no);
        try {
            if (line.size() > kMaxHistoryLineBytes) throw std::runtime_error("line too long");
            const nlohmann::json j =
                parse_json_bounded(line, where, {.max_bytes = kMaxHistoryLineBytes, .max_depth = 8});
            HistoryEntry e;
            e.time = j.at("time").get<std::string>();
            e.user = j.value("user", "");
            e.host = j.value("host", "");
            e.action = j.at("action").get<std::string>();
            e.label = j.value("label", "");
            e.from = optional_version(j, "from");
            e.to = optional_version(j, "to");
            e.reason = j.value("reason", "");
            if (const auto d = j.find("digests"); d != j.end() && d->is_object())
                for (const auto & [version, digest] : d->items())
                    if (digest.is_string() && !version.empty() && version.size() <= 18 &&
                        std::all_of(version.begin(), version.end(), ::isdigit))
                        e.digests[std::stoll(version)] = digest.get<std::string>();
            if (const auto d = j.find("details"); d != j.end() && d->is_object())
                e.details = nlohmann::ordered_json::parse(d->dump());
            out.push_back(std::move(e));
        } catch (const Error &) {
            throw;
        } catch (const std::exception & e) {
            throw Error(ExitCode::bad_input, fmt::format("{}: not a history entry: {}", where, e.what()));
        }
    }
    return out;
}

std::optional<int64_t> previous_version(const std::vector<HistoryEntry> & history,
                                        const std::string & label) {
    // The label's versions as a stack: a change pushes, a rollback pops (so rolling back twice goes two back).
    std::vector<std::optional<int64_t>> stack;
    for (const HistoryEntry & e : history) {
        if (e.label != label) continue;
        if (e.action == "rollback") {
            if (!stack.empty()) stack.pop_back();
            if (stack.empty() || stack.back() != e.to) stack.push_back(e.to);
        } else if (e.action != "canary_percent") {
            if (stack.empty() && e.from) stack.push_back(e.from);
            if (stack.empty() || stack.back() != e.to) stack.push_back(e.to);
        }
    }
    if (stack.size() < 2) return std::nullopt;
    return stack[stack.size() - 2];
}

LabelSet change_labels(const std::string & model_dir, const LabelEdit & edit) {
    std::error_code ec;
    if (!fs::is_directory(model_dir, ec))
        throw Error(ExitCode::missing_input, fmt::format("{}: no such model directory", model_dir));
    LabelsLock lock(model_dir);
    LabelSet labels = read_labels_file(model_dir);
    std::vector<HistoryEntry> entries;
    edit(labels, entries);
    if (entries.empty()) return labels;
    const std::string now = iso8601_now(), user = current_user(), host = host_name();
    for (HistoryEntry & e : entries) {
        e.time = now;
        e.user = user;
        e.host = host;
        for (const std::optional<int64_t> & v : {e.from, e.to})
            if (v && !e.digests.contains(*v))
                if (std::string digest = version_digest(model_dir, *v); !digest.empty())
                    e.digests[*v] = digest;
    }
    append_history(model_dir, entries);
    write_file_atomic(labels_path(model_dir), render_labels(labels));
    return labels;
}

}  // namespace dl
