#include "serve/version_repository.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/json_limits.h"
#include "infer/predictor.h"
#include "model/bundle.h"
#include "serve/model_server_impl.h"
#include "serve/serve_errors.h"

namespace dl::serve {

FileStamp stamp_of(const std::string & path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return {.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
            .size = static_cast<int64_t>(st.st_size),
            .inode = static_cast<uint64_t>(st.st_ino)};
}

namespace {

const char * tf_dtype(const std::string & dtype) {
    if (dtype == "float32") return "DT_FLOAT";
    if (dtype == "string") return "DT_STRING";
    if (dtype == "int64") return "DT_INT64";
    if (dtype == "int32") return "DT_INT32";
    return "DT_INVALID";
}

ojson tensor_info(const ojson & tensor) {
    ojson dims = ojson::array();
    for (const auto & size : tensor.at("shape"))
        dims.push_back({{"size", std::to_string(size.get<int64_t>())}, {"name", ""}});
    return {{"dtype", tf_dtype(tensor.value("dtype", ""))},
            {"tensor_shape", {{"dim", dims}, {"unknown_rank", false}}},
            {"name", tensor.value("name", "") + ":0"}};
}

// TF Serving's GetModelMetadata reply: model_spec, and metadata.signature_def built from signature.json,
// beside the signature itself (column and label names, metrics).
std::string metadata_reply(const std::string & model, int64_t version, const ojson & signature) {
    ojson inputs = ojson::object(), outputs = ojson::object();
    for (const auto & t : signature.at("inputs")) inputs[t.at("name").get<std::string>()] = tensor_info(t);
    for (const auto & t : signature.at("outputs")) outputs[t.at("name").get<std::string>()] = tensor_info(t);
    ojson def = {{"inputs", inputs}, {"outputs", outputs}, {"method_name", "tensorflow/serving/predict"}};
    ojson reply;
    reply["model_spec"] = {{"name", model}, {"signature_name", ""}, {"version", std::to_string(version)}};
    reply["metadata"]["signature_def"]["signature_def"]["serving_default"] = def;
    reply["metadata"]["signature"] = signature;
    return dump(reply, 1);
}

}  // namespace

std::shared_ptr<LoadedVersion> load_version(const std::string & model, int64_t version,
                                            const std::string & dir, const FileStamp & stamp,
                                            const ServeOptions & options, ServeMetrics & metrics) {
    TrainedModel trained = load_bundle(dir);
    ojson signature;
    const std::string signature_path = dir + "/signature.json";
    if (file_exists(signature_path)) {
        try {
            signature = parse_json_bounded<ojson>(read_file(signature_path), signature_path,
                                                  {.max_bytes = 1 << 20, .max_depth = 8});
            signature.at("inputs").at(0);
            signature.at("outputs").at(0);
        } catch (const json::exception & e) {
            throw Error(ExitCode::bad_input, fmt::format("{}: {}", signature_path, e.what()));
        }
    } else {
        signature = make_signature(trained, json::object());
    }
    auto v = std::make_shared<LoadedVersion>();
    v->version = version;
    v->dir = dir;
    v->stamp = stamp;
    v->classifier = trained.info.classification;
    v->features = trained.features;
    for (const std::string & c : trained.classes) v->quoted_labels.push_back(dump(json(c)));
    try {
        v->metadata = metadata_reply(model, version, signature);
    } catch (const json::exception & e) {
        throw Error(ExitCode::bad_input, fmt::format("{}: {}", signature_path, json_error_text(e)));
    }
    std::vector<std::unique_ptr<Predictor>> lanes;
    for (int i = 1; i < options.engine_lanes; ++i)
        lanes.push_back(std::make_unique<Predictor>(trained, options.engine_threads));
    lanes.push_back(std::make_unique<Predictor>(std::move(trained), options.engine_threads));
    v->input_size = lanes[0]->input_size();
    v->output_size = lanes[0]->output_size();
    DL_CHECK(!v->classifier || static_cast<int64_t>(v->quoted_labels.size()) == v->output_size,
             ExitCode::bad_input, "{}: {} label names for {} classes", dir, v->quoted_labels.size(),
             v->output_size);
    v->batcher = std::make_unique<Batcher>(
        std::move(lanes), options.max_batch, std::chrono::microseconds(options.batch_timeout_us),
        [&metrics, model, version](int64_t rows) { metrics.observe_batch(model, version, rows); });
    return v;
}

bool is_number_text(std::string_view s) {
    return !s.empty() && s.size() <= 18 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_name(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

std::string join_versions(const ModelState & s) {
    std::vector<int64_t> v;
    for (const auto & [version, loaded] : s.versions) v.push_back(version);
    return fmt::format("[{}]", fmt::join(v, ", "));
}

}  // namespace dl::serve

namespace dl {

namespace {

namespace fs = std::filesystem;

std::string replace_all(std::string text, const std::string & from, const std::string & to) {
    for (size_t at = text.find(from); !from.empty() && at != std::string::npos;
         at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

}  // namespace

using namespace serve;

// -----------------------------------------------------------------------------------------------------------
// The watcher: new, replaced and removed version directories, and labels.json.

bool ModelServer::Impl::log_once(ServedModel & m, const std::string & key, LogLevel level,
                                 const std::string & line) {
    if (!m.logged.insert(key).second) return false;
    log(level, line);
    return true;
}

// Note [labels and history] in io/model_labels.cpp: labels.json is taken whole or not at all. A file that does
// not parse, names a version that is not loaded, or renames a label by a typo leaves the last good labels in
// effect (traffic does not move); the reason is logged once, shown in the model's status and counted in
// /metrics until the file is fixed.
void ModelServer::Impl::apply_labels(ServedModel & m, ModelState & next) {
    const std::string path = m.base_dir + "/" + kLabelsFile;
    std::optional<std::string> text;  // none: there is no labels.json (no labels)
    bool readable = true;
    if (file_exists(path)) {
        try {
            text = read_file(path);
        } catch (const Error &) {
            readable = false;  // vanished or unreadable for a moment: decide at the next poll
        }
    }
    const bool never_parsed = !m.parsed && m.parse_error.empty();
    if (readable && (never_parsed || text != m.parsed_text)) {
        m.parsed_text = text;
        m.parsed.reset();
        m.parse_error.clear();
        try {
            // An empty file is one being rewritten (truncated, not yet written): `{}` clears the labels.
            if (text && text->find_first_not_of(" \t\r\n") == std::string::npos)
                throw Error(ExitCode::bad_input, fmt::format("{}: empty (write {{}} for no labels)", path));
            m.parsed =
                !text ? LabelSet{} : parse_labels(*text, path, m.good_labels ? &*m.good_labels : nullptr);
        } catch (const Error & e) {
            m.parse_error = e.what();
        }
    }
    std::string why = m.parse_error;
    if (m.parsed) {
        for (const auto & [label, version] : m.parsed->versions) {
            if (next.versions.contains(version)) continue;
            why = fmt::format("{}: label \"{}\" names version {}, which is {}", path, label, version,
                              next.refused.contains(version)
                                  ? fmt::format("refused ({})", next.refused.at(version))
                                  : fmt::format("not loaded (loaded: {})", join_versions(next)));
            break;
        }
    }
    if (why.empty() && m.parsed) {
        m.good_labels = m.parsed;
        std::erase_if(m.logged, [](const std::string & key) { return key.starts_with("labels.json:"); });
    } else if (!why.empty()) {
        const std::string shown = replace_all(why, m.base_dir + "/", "");
        if (log_once(m, "labels.json:" + shown, LogLevel::error,
                     fmt::format("{}: {}; {}", m.name, why,
                                 m.good_labels ? "keeping the labels taken before" : "no labels taken yet")))
            m.labels_refusals.fetch_add(1, std::memory_order_relaxed);
        next.labels_error = shown;
    }
    next.labels_ready = m.good_labels.has_value();
    if (m.good_labels) {
        next.canary_percent = m.good_labels->canary_percent;
        next.shadow = m.good_labels->shadow;
        for (const auto & [label, version] : m.good_labels->versions)
            if (next.versions.contains(version)) next.labels[label] = version;
    }
    for (const auto & [label, version] : m.flag_labels) {
        const std::string key = fmt::format("label:{}={}", label, version);
        if (next.versions.contains(version)) {
            next.labels[label] = version;
            m.logged.erase(key);
        } else {
            log_once(m, key, LogLevel::error,
                     fmt::format("{}: --label {}={} names a version that is not loaded; ignoring it", m.name,
                                 label, version));
        }
    }
}

void ModelServer::Impl::scan(ServedModel & m) {
    const std::shared_ptr<const ModelState> current = m.snapshot();
    auto next = std::make_shared<ModelState>();
    std::error_code ec;
    std::map<int64_t, std::string> dirs;
    for (fs::directory_iterator it(m.base_dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        std::error_code type_ec;
        // Dot entries are exports under construction (renamed into place when complete).
        if (is_number_text(name) && it->is_directory(type_ec)) dirs[std::stoll(name)] = it->path().string();
    }
    if (ec) {
        log_once(m, "dir:" + ec.message(), LogLevel::error,
                 fmt::format("{}: cannot list: {}; still serving {} versions {}", m.base_dir, ec.message(),
                             m.name, join_versions(*current)));
        return;
    }
    std::erase_if(m.logged, [](const std::string & key) { return key.starts_with("dir:"); });
    std::erase_if(m.refusals, [&](const auto & r) {
        return std::none_of(dirs.begin(), dirs.end(), [&](const auto & d) { return d.second == r.first; });
    });
    for (const auto & [version, dir] : dirs) {
        const FileStamp stamp = stamp_of(dir + "/dlctl.h5");
        const auto old = current->versions.find(version);
        const bool had = old != current->versions.end();
        if (had && old->second->stamp == stamp) {
            next->versions[version] = old->second;
            continue;
        }
        if (const auto r = m.refusals.find(dir); r != m.refusals.end() && r->second.stamp == stamp) {
            next->refused[version] = r->second.why;
            if (had) next->versions[version] = old->second;
            continue;
        }
        try {
            next->versions[version] = load_version(m.name, version, dir, stamp, options, metrics);
            m.refusals.erase(dir);
            log(LogLevel::info,
                fmt::format("{}: {} version {} from {}", m.name, had ? "reloaded" : "loaded", version, dir));
        } catch (const std::exception & e) {
            // Our own errors name the file; anything else (bad_alloc from a file that claims too much) gets
            // it.
            const std::string why = dynamic_cast<const Error *>(&e)
                                        ? std::string(e.what())
                                        : fmt::format("{}/dlctl.h5: cannot be loaded: {}", dir, e.what());
            // The status API is public: it names files relative to the model's base directory.
            const std::string shown = replace_all(why, m.base_dir + "/", "");
            m.refusals[dir] = {stamp, shown};
            next->refused[version] = shown;
            if (had) next->versions[version] = old->second;
            log(LogLevel::error, fmt::format("{}: version {} refused: {}{}", m.name, version, why,
                                             had ? "; still serving the copy loaded before" : ""));
        }
    }
    for (const auto & [version, loaded] : current->versions) {
        if (next->versions.contains(version)) continue;
        // A labelled version stays in memory until the labels stop naming it: removing its directory must not
        // move the label's traffic either.
        const bool labelled = std::any_of(current->labels.begin(), current->labels.end(),
                                          [&](const auto & l) { return l.second == version; });
        if (labelled) {
            next->versions[version] = loaded;
            log_once(
                m, fmt::format("kept:{}", version), LogLevel::error,
                fmt::format("{}: version {} was removed from {} but a label still names it; serving the copy "
                            "in memory until the labels change",
                            m.name, version, m.base_dir));
        } else {
            m.logged.erase(fmt::format("kept:{}", version));
            log(LogLevel::info, fmt::format("{}: version {} removed", m.name, version));
        }
    }

    apply_labels(m, *next);
    if (next->labels != current->labels) {
        std::vector<std::string> text;
        for (const auto & [label, version] : next->labels)
            text.push_back(fmt::format("{}={}", label, version));
        log(LogLevel::info, fmt::format("{}: labels {}", m.name,
                                        text.empty() ? "none" : fmt::format("{}", fmt::join(text, ", "))));
    }
    if (!(*next == *current)) m.publish(std::move(next));
}

void ModelServer::Impl::watch() {
    const std::string host =
        options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
    for (bool first = true;; first = false) {
        {
            std::lock_guard lock(stop_mutex);
            ++scans_started;
            rescan_requested = false;
        }
        for (const auto & m : models) scan(*m);
        {
            std::lock_guard lock(stop_mutex);
            ++scans_done;
        }
        scan_finished.notify_all();
        if (first) {
            std::vector<std::string> served;
            for (const auto & m : models)
                served.push_back(fmt::format("{} versions {}", m->name, join_versions(*m->snapshot())));
            log(LogLevel::info,
                fmt::format("serving {} on http://{}:{}", fmt::join(served, ", "), host, port));
        }
        std::unique_lock lock(stop_mutex);
        stop_changed.wait_for(lock, std::chrono::milliseconds(options.poll_ms),
                              [&] { return stop_requested || rescan_requested; });
        if (stop_requested) return;
    }
}

}  // namespace dl
