// The versions `dlctl serve` has loaded: for each model its immutable snapshot of loaded versions, refusals
// and labels (Note [serving model] in serve/model_server.h), how a version directory is loaded, and the
// watcher's bookkeeping. ModelServer::Impl::watch (version_repository.cpp) rescans the base directories and
// labels.json and publishes a new snapshot when anything changed. Internal to serve/.
//   std::shared_ptr<const ModelState> s = served_model.snapshot();   // a request's view, kept to its end
//   auto v = load_version("housing", 1, dir, stamp_of(dir + "/dlctl.h5"), options, metrics);
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "io/model_labels.h"
#include "serve/batcher.h"
#include "serve/model_server.h"
#include "serve/serve_metrics.h"

namespace dl::serve {

// Identifies the dlctl.h5 a version was loaded from: a re-export swaps the directory and changes it.
struct FileStamp {
    int64_t mtime_ns = 0, size = -1;
    uint64_t inode = 0;
    bool operator==(const FileStamp &) const = default;
};

FileStamp stamp_of(const std::string & path);

struct LoadedVersion {
    int64_t version = 0;
    std::string dir;
    FileStamp stamp;
    int64_t input_size = 0, output_size = 0;
    bool classifier = false;
    std::vector<std::string> features;
    std::vector<std::string> quoted_labels;  // class names as JSON strings
    std::string metadata;                    // the /metadata reply
    std::unique_ptr<Batcher> batcher;
};

struct ModelState {
    std::map<int64_t, std::shared_ptr<const LoadedVersion>> versions;
    std::map<int64_t, std::string> refused;  // version -> why its directory was not loaded
    std::map<std::string, int64_t> labels;   // each points at a loaded version
    std::optional<double> canary_percent;    // labels.json's; else --canary-percent
    bool shadow = false;                     // the canary's share is mirrored to it, never answered by it
    // Why labels.json is refused now ("" when it was taken): the labels above are the last good ones.
    std::string labels_error;
    bool labels_ready = true;  // false until a labels.json (or its absence) has been taken once

    bool operator==(const ModelState &) const = default;
};

struct ServedModel {
    std::string name, base_dir;
    std::map<std::string, int64_t> flag_labels;  // --label, over labels.json

    std::shared_ptr<const ModelState> snapshot() const {
        std::lock_guard lock(mutex);
        return state;
    }
    void publish(std::shared_ptr<const ModelState> next) {
        std::lock_guard lock(mutex);
        state = std::move(next);
    }

    mutable std::mutex mutex;
    std::shared_ptr<const ModelState> state = std::make_shared<ModelState>();
    std::atomic<uint64_t> unlabelled{0};  // unlabelled requests split by the canary rule

    // The watcher's own bookkeeping (only its thread touches these).
    struct Refusal {
        FileStamp stamp;
        std::string why;
    };
    std::map<std::string, Refusal> refusals;  // version directory -> the dlctl.h5 refused, logged once
    std::optional<std::string> parsed_text;  // labels.json as last parsed (none: absent), and what came of it
    std::optional<LabelSet> parsed;
    std::string parse_error;
    std::optional<LabelSet> good_labels;  // the last labels.json taken whole (empty set: none on disk)
    std::atomic<uint64_t> labels_refusals{0};
    std::set<std::string> logged;  // label problems already logged
};

// Loads the version directory `dir` (dlctl.h5, signature.json when there is one) and warms its batcher;
// Error(bad_input) naming the file when it cannot be served.
std::shared_ptr<LoadedVersion> load_version(const std::string & model, int64_t version,
                                            const std::string & dir, const FileStamp & stamp,
                                            const ServeOptions & options, ServeMetrics & metrics);

// Version numbers and model and label names as the directories, labels.json and --label write them.
bool is_number_text(std::string_view s);
bool is_name(std::string_view s);
std::string join_versions(const ModelState & s);  // "[1, 2]"

}  // namespace dl::serve
