#include "oci/model_pull.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <regex>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "io/runs.h"
#include "model/bundle.h"
#include "oci/base_image.h"
#include "oci/registry_documents.h"

namespace dl::oci {

namespace fs = std::filesystem;

namespace {

struct ModelInImage {
    std::string name;
    int64_t version = 0;
    const PulledLayer * layer = nullptr;
    std::string dir() const { return fmt::format("models/{}/{}", name, version); }
};

std::string label_of(const PulledImage & image, const char * key) {
    const nlohmann::json & config = image.config;
    if (!config.is_object() || !config.contains("config") || !config["config"].is_object()) return "";
    const nlohmann::json & labels = config["config"].value("Labels", nlohmann::json::object());
    return labels.is_object() ? registry::string_member(labels, key) : "";
}

// Note [model layer]: `dlctl package` labels the config with dlctl.model.name and dlctl.model.version, and
// its model layer (the last one) holds models/<name>/<version>/dlctl.h5. The layers are searched from the
// last for that file, as the labels name it; an image without the labels (another tool assembled it) must have
// exactly one models/<name>/<version>/dlctl.h5 in the first layer that has any.
ModelInImage find_model(const PulledImage & image) {
    static const std::regex kModelFile(
        "models/([A-Za-z0-9_][A-Za-z0-9._-]{0,63})/([1-9][0-9]{0,17})/dlctl\\.h5");
    const std::string want_name = label_of(image, "dlctl.model.name");
    const std::string want_version = label_of(image, "dlctl.model.version");
    for (auto layer = image.layers.rbegin(); layer != image.layers.rend(); ++layer) {
        std::vector<ModelInImage> found;
        for (const auto & [path, kind] : list_layer(*layer)) {
            std::smatch m;
            if (kind != BaseImage::Kind::file || !std::regex_match(path, m, kModelFile)) continue;
            if (!want_name.empty() && (m[1] != want_name || m[2] != want_version)) continue;
            found.push_back({.name = m[1], .version = std::stoll(m[2]), .layer = &*layer});
        }
        if (found.size() == 1) return found[0];
        DL_CHECK(found.empty(), ExitCode::bad_input,
                 "{}: layer {} holds {} models ({}/dlctl.h5, {}/dlctl.h5, ...) and the image's config names "
                 "none (labels dlctl.model.name, dlctl.model.version)",
                 image.reference, layer->digest, found.size(), found[0].dir(), found[1].dir());
    }
    throw Error(ExitCode::bad_input,
                fmt::format("{}: no layer holds {}/dlctl.h5: not a model image made by `dlctl package`",
                            image.reference,
                            want_name.empty() ? "models/<name>/<version>"
                                              : fmt::format("models/{}/{}", want_name, want_version)));
}

// Regular files (relative path -> sha256) and directories ("dir") below `dir`, `skip` left out.
std::map<std::string, std::string> tree_contents(const fs::path & dir, const std::string & skip) {
    std::map<std::string, std::string> tree;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string rel = it->path().lexically_relative(dir).generic_string();
        if (rel == skip) continue;
        const fs::file_status st = it->symlink_status(ec);
        if (ec) break;
        tree[rel] = fs::is_directory(st)      ? "dir"
                    : fs::is_regular_file(st) ? registry::file_sha256(it->path())
                                              : "other";
    }
    DL_CHECK(!ec, ExitCode::missing_input, "{}: cannot read it: {}", dir.string(), ec.message());
    return tree;
}

// What was built in `tmp` reaches the disk before its name does: a crash never leaves a version directory whose
// files are empty.
void fsync_tree(const fs::path & dir) {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        fsync_path(it->path().string());
    DL_CHECK(!ec, ExitCode::io, "{}: cannot read it back: {}", dir.string(), ec.message());
    fsync_path(dir.string());
}

// rename(2) that never replaces `to`: false when it exists (a version already there, or placed by a pull
// running at the same time).
bool rename_no_replace(const std::string & from, const std::string & to) {
#ifdef SYS_renameat2
    constexpr unsigned kNoReplace = 1;  // RENAME_NOREPLACE
    if (::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), kNoReplace) == 0) return true;
    if (errno == EEXIST) return false;
    if (errno != ENOSYS && errno != EINVAL)
        throw Error(ExitCode::io, fmt::format("{}: cannot rename into place: {}", to, std::strerror(errno)));
#endif
    // A directory is never renamed over a directory that has files; a version directory always has some.
    if (::rename(from.c_str(), to.c_str()) == 0) return true;
    if (errno == EEXIST || errno == ENOTEMPTY) return false;
    throw Error(ExitCode::io, fmt::format("{}: cannot rename into place: {}", to, std::strerror(errno)));
}

int64_t highest_version(const fs::path & base) {
    int64_t highest = 0;
    std::error_code ec;
    for (const auto & e : fs::directory_iterator(base, ec)) {
        const std::string name = e.path().filename().string();
        if (!name.empty() && name.size() <= 18 &&
            std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
            highest = std::max<int64_t>(highest, std::stoll(name));
    }
    return highest;
}

constexpr const char * kProvenanceFile = "pulled.json";

}  // namespace

ModelPullResult pull_model(const ModelPullOptions & o) {
    DL_CHECK(o.version >= 0, ExitCode::usage, "--version must be a positive number, got {}", o.version);
    const RegistryReference ref = parse_registry_reference(o.reference);
    const PulledImage image = pull_image(ref, o.registry, o.cache.empty() ? cache_dir() : o.cache);
    // The cache trusts a blob once it was verified; what is about to be read and served is checked again.
    for (const PulledLayer & layer : image.layers) {
        if (const std::string got = registry::file_sha256(layer.path); got != layer.digest) {
            std::error_code ignored;
            fs::remove(layer.path, ignored);
            throw Error(ExitCode::bad_input,
                        fmt::format("{}: the cached layer hashes to {}, not {}: removed it; pull again",
                                    layer.path.string(), got, layer.digest));
        }
    }
    const ModelInImage model = find_model(image);

    ModelPullResult r{.reference = image.reference,
                      .digest = image.manifest_digest,
                      .name = model.name,
                      .version = o.version > 0 ? o.version : model.version,
                      .image_version = model.version};
    const fs::path base = fs::absolute(o.out).lexically_normal() / model.name;
    r.path = (base / std::to_string(r.version)).string();
    std::error_code ec;
    fs::create_directories(base, ec);
    DL_CHECK(!ec, ExitCode::io, "{}: cannot create it: {}", base.string(), ec.message());
    remove_abandoned_temp_dirs(base.string());
    const fs::path tmp = base / temp_dir_name(r.version);
    fs::remove_all(tmp, ec);
    fs::create_directory(tmp, ec);
    DL_CHECK(!ec, ExitCode::io, "{}: cannot create it: {}", tmp.string(), ec.message());
    struct RemoveTemp {
        const fs::path & dir;
        ~RemoveTemp() {
            std::error_code ignored;
            fs::remove_all(dir, ignored);
        }
    } remove_temp{tmp};

    try {
        extract_layer_directory(*model.layer, model.dir(), tmp);
    } catch (const Error & e) {
        throw Error(e.code(), fmt::format("{}: {}", r.reference, e.what()));
    }
    try {
        (void)load_bundle(tmp.string());
    } catch (const std::exception & e) {
        // Named as the file is in the image: the temporary directory is gone when the message is read.
        std::string why = e.what();
        for (size_t at = why.find(tmp.string()); at != std::string::npos; at = why.find(tmp.string()))
            why.replace(at, tmp.string().size(), model.dir());
        if (!dynamic_cast<const Error *>(&e))
            why = fmt::format("{}/dlctl.h5: cannot be loaded: {}", model.dir(), why);
        throw Error(ExitCode::bad_input, fmt::format("{}: {}", r.reference, why));
    }

    // Same files: nothing to do (pulling again, or a pull at the same time placed it first).
    auto settle_existing = [&] {
        if (tree_contents(tmp, kProvenanceFile) == tree_contents(r.path, kProvenanceFile)) {
            r.unchanged = true;
            return;
        }
        throw Error(ExitCode::usage,
                    fmt::format("{}: already there with other files than {}'s model {} version {}; place it "
                                "under another version number with --version N (the highest here is {})",
                                r.path, r.reference, model.name, model.version, highest_version(base)));
    };
    if (fs::exists(r.path, ec)) {
        settle_existing();
        return r;
    }
    nlohmann::ordered_json provenance;
    provenance["reference"] = r.reference;
    provenance["digest"] = r.digest;
    provenance["name"] = r.name;
    provenance["image_version"] = r.image_version;
    provenance["pulled_at"] = iso8601_now();
    write_file_atomic((tmp / kProvenanceFile).string(), provenance.dump(2) + "\n");
    fsync_tree(tmp);
    if (!rename_no_replace(tmp.string(), r.path)) {
        settle_existing();
        return r;
    }
    fsync_path(base.string());
    return r;
}

}  // namespace dl::oci
