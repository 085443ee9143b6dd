#include "oci/base_image.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"

namespace dl::oci {

namespace fs = std::filesystem;

namespace {

// "./usr/lib/" -> "usr/lib"; "/" and "." -> "".
std::string clean_path(std::string path) {
    while (path.starts_with("./")) path.erase(0, 2);
    while (path.starts_with("/")) path.erase(0, 1);
    while (!path.empty() && path.back() == '/') path.pop_back();
    return path == "." ? "" : path;
}

// Note [base layers]: a base image comes from a registry, so its tars are an attacker's input. dlctl never
// unpacks them (it only lists their paths, to place its own files and keep the base's passwd and /tmp), and
// what it lists is checked as a container runtime would before unpacking: a path with a ".." component is
// refused (exit 65 naming the layer and the entry), a leading "/" is read as relative to the image's root (as
// runtimes do), symlink targets are only ever resolved inside the image's root (BaseImage::resolve), and the
// listing is bounded (kMaxBaseEntries entries, kMaxPathBytes a path) so a layer of millions of empty entries
// cannot exhaust memory. Entry sizes are never trusted: data is skipped, not read.
constexpr size_t kMaxBaseEntries = 2'000'000;  // a CUDA devel image has ~60k
constexpr size_t kMaxPathBytes = 4096;         // PATH_MAX
// Uncompressed, all layers together: read through (never stored) to list the entries; a gzip bomb (deflate
// reaches ~1000:1) stops here instead of running for hours.
constexpr int64_t kMaxBaseTarBytes = int64_t{128} << 30;

bool has_dot_dot(const std::string & path) {
    for (size_t start = 0; start <= path.size();) {
        const size_t end = std::min(path.find('/', start), path.size());
        if (path.compare(start, end - start, "..") == 0 && end - start == 2) return true;
        start = end + 1;
    }
    return false;
}

struct LayerEntry {
    std::string path;
    BaseImage::Kind kind;
    std::string link;
};

// Applies one layer (a tar, compressed or not) the way a container runtime unpacks it: whiteouts (.wh.NAME)
// remove a lower path, an opaque marker (.wh..wh..opq) empties a lower directory, and every other entry
// replaces what was at its path.
void apply_layer(BaseImage & base, const fs::path & blob, const std::string & digest, size_t & listed,
                 int64_t & tar_bytes, const char * layer_kind = "base layer") {
    struct archive * a = archive_read_new();
    std::unique_ptr<struct archive, int (*)(struct archive *)> owner(a, archive_read_free);
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    DL_CHECK(archive_read_open_filename(a, blob.c_str(), 1 << 16) == ARCHIVE_OK, ExitCode::bad_input,
             "{} {}: {}", layer_kind, digest, archive_error_string(a));
    std::vector<LayerEntry> added;
    std::vector<std::string> removed, emptied;
    struct archive_entry * entry = nullptr;
    int rc = 0;
    while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
        const char * raw = archive_entry_pathname(entry);
        DL_CHECK(raw != nullptr, ExitCode::bad_input, "{} {}: an entry without a path", layer_kind, digest);
        DL_CHECK(std::strlen(raw) <= kMaxPathBytes && !has_dot_dot(raw), ExitCode::bad_input,
                 "{} {}: entry '{:.200}' has a '..' component or a path over {} bytes: refused", layer_kind,
                 digest, raw, kMaxPathBytes);
        const std::string path = clean_path(fs::path(raw).lexically_normal().generic_string());
        DL_CHECK(++listed <= kMaxBaseEntries, ExitCode::bad_input,
                 "{} {}: the image has more than {} entries: refused", layer_kind, digest, kMaxBaseEntries);
        DL_CHECK(tar_bytes + archive_filter_bytes(a, 0) <= kMaxBaseTarBytes, ExitCode::bad_input,
                 "{} {}: the image unpacks to more than {} GiB: refused", layer_kind, digest,
                 kMaxBaseTarBytes >> 30);
        const auto slash = path.rfind('/');
        const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
        const std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
        if (name == ".wh..wh..opq") {
            emptied.push_back(dir);
        } else if (name.starts_with(".wh.")) {
            removed.push_back((dir.empty() ? "" : dir + "/") + name.substr(4));
        } else if (!path.empty()) {
            const auto type = archive_entry_filetype(entry);
            LayerEntry e{.path = path, .kind = BaseImage::Kind::file, .link = ""};
            if (type == AE_IFDIR) e.kind = BaseImage::Kind::directory;
            if (type == AE_IFLNK) {
                e.kind = BaseImage::Kind::symlink;
                e.link = archive_entry_symlink(entry) ? archive_entry_symlink(entry) : "";
                DL_CHECK(e.link.size() <= kMaxPathBytes, ExitCode::bad_input,
                         "{} {}: symlink '{:.200}' has a target over {} bytes: refused", layer_kind, digest,
                         path, kMaxPathBytes);
            }
            added.push_back(std::move(e));
        }
        archive_read_data_skip(a);
    }
    DL_CHECK(rc == ARCHIVE_EOF, ExitCode::bad_input, "{} {}: {}", layer_kind, digest,
             archive_error_string(a));
    tar_bytes += archive_filter_bytes(a, 0);
    // Removes what is below `dir` (all of it for ""), and `dir` itself unless keep_dir. '0' follows '/'.
    auto erase_under = [&](const std::string & dir, bool keep_dir) {
        auto first = dir.empty() ? base.entries.begin() : base.entries.lower_bound(dir + "/");
        auto last = dir.empty() ? base.entries.end() : base.entries.lower_bound(dir + "0");
        for (auto it = first; it != last; it = base.entries.erase(it)) base.symlinks.erase(it->first);
        if (!keep_dir) {
            base.entries.erase(dir);
            base.symlinks.erase(dir);
        }
    };
    for (const std::string & dir : emptied) erase_under(dir, /*keep_dir=*/true);
    for (const std::string & path : removed) erase_under(path, /*keep_dir=*/false);
    for (const LayerEntry & e : added) {
        // A non-directory replaces a whole lower tree; a directory over a directory merges with it.
        if (e.kind != BaseImage::Kind::directory ||
            (base.has(e.path) && base.entries.at(e.path) != BaseImage::Kind::directory))
            erase_under(e.path, /*keep_dir=*/false);
        base.entries[e.path] = e.kind;
        if (e.kind == BaseImage::Kind::symlink) base.symlinks[e.path] = e.link;
    }
}

}  // namespace

std::string BaseImage::resolve(const std::string & path) const {
    std::string p = clean_path(path);
    for (int hops = 0; hops < 40; ++hops) {
        bool followed = false;
        for (size_t slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1)) {
            const auto it = symlinks.find(p.substr(0, slash));
            if (it == symlinks.end()) continue;
            const fs::path target(it->second);
            const fs::path dir =
                target.is_absolute() ? target.relative_path() : fs::path(it->first).parent_path() / target;
            std::string resolved = clean_path(dir.lexically_normal().string());
            // ".." stops at the image's root: a link never leads out of it.
            while (resolved == ".." || resolved.starts_with("../")) resolved = clean_path(resolved.substr(2));
            p = (resolved.empty() ? "" : resolved + "/") + p.substr(slash + 1);
            followed = true;
            break;
        }
        if (!followed) return p;
    }
    throw Error(ExitCode::bad_input,
                fmt::format("base image {}: too many symbolic links under /{}", pulled.reference, path));
}

BaseImage load_base_image(const std::string & reference, const RegistryOptions & options,
                          const fs::path & cache, const std::string & platform) {
    BaseImage base;
    base.pulled = pull_image(parse_registry_reference(reference), options, cache, platform);
    size_t listed = 0;
    int64_t tar_bytes = 0;
    for (const PulledLayer & layer : base.pulled.layers) {
        const std::string media_type = oci_layer_media_type(layer.media_type);
        DL_CHECK(media_type.starts_with("application/vnd.oci.image.layer.v1.tar"), ExitCode::bad_input,
                 "base image {}: layer {} has media type {}, not a tar layer", reference, layer.digest,
                 layer.media_type);
        apply_layer(base, layer.path, layer.digest, listed, tar_bytes);
    }
    for (const auto & [path, kind] : base.entries)
        if (kind != BaseImage::Kind::directory) base.file_names.insert(path.substr(path.rfind('/') + 1));
    // The config's parts dlctl builds on, checked for their types here (a registry wrote them).
    nlohmann::json & config = base.pulled.config;
    DL_CHECK(config.is_object() && config.contains("rootfs") && config["rootfs"].is_object(),
             ExitCode::bad_input, "base image {}: its config has no rootfs", reference);
    const nlohmann::json diff_ids = config["rootfs"].value("diff_ids", nlohmann::json::array());
    DL_CHECK(diff_ids.is_array() && diff_ids.size() == base.pulled.layers.size() &&
                 std::all_of(diff_ids.begin(), diff_ids.end(), [](const auto & d) { return d.is_string(); }),
             ExitCode::bad_input, "base image {}: its config lists {} diff_ids for {} layers", reference,
             diff_ids.is_array() ? diff_ids.size() : 0, base.pulled.layers.size());
    if (config.contains("history") && !config["history"].is_array()) config.erase("history");
    return base;
}

std::map<std::string, BaseImage::Kind> list_layer(const PulledLayer & layer) {
    BaseImage one;
    size_t listed = 0;
    int64_t tar_bytes = 0;
    apply_layer(one, layer.path, layer.digest, listed, tar_bytes, "layer");
    return one.entries;
}

// Note [extracted layers]: `dlctl pull` unpacks part of a layer a registry sent, onto the disk of a serving
// machine. The layer is listed first (list_layer: '..' refused, bounded), and what is unpacked is only the
// regular files and directories below `dir`: anything else there (a symbolic or hard link, a device, a FIFO,
// a whiteout) is refused with exit 65 naming the layer and the entry, and entries elsewhere in the layer are
// skipped, never written. libarchive's disk writer does the writing with its own guards (no '..', no path
// through a symbolic link), below the canonical `dest`, without owners, set-id bits or times from the layer.
// Bounded: kMaxExtractedEntries entries and kMaxExtractedBytes of file data (as the entries declare it,
// sparse files included), so a layer of millions of empty files or of a huge sparse file fills no disk.
constexpr int64_t kMaxExtractedEntries = 100'000;
constexpr int64_t kMaxExtractedBytes = int64_t{64} << 30;

ExtractedFiles extract_layer_directory(const PulledLayer & layer, const std::string & dir,
                                       const fs::path & dest) {
    const std::string prefix = clean_path(dir) + "/";
    std::error_code ec;
    const fs::path root = fs::canonical(dest, ec);
    DL_CHECK(!ec, ExitCode::io, "{}: cannot open it: {}", dest.string(), ec.message());
    struct archive * a = archive_read_new();
    std::unique_ptr<struct archive, int (*)(struct archive *)> reader(a, archive_read_free);
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    DL_CHECK(archive_read_open_filename(a, layer.path.c_str(), 1 << 16) == ARCHIVE_OK, ExitCode::bad_input,
             "layer {}: {}", layer.digest, archive_error_string(a));
    struct archive * disk = archive_write_disk_new();
    std::unique_ptr<struct archive, int (*)(struct archive *)> writer(disk, archive_write_free);
    archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    auto refuse = [&](const std::string & path, const std::string & why) {
        return Error(
            ExitCode::bad_input,
            fmt::format("layer {}: entry '{:.200}' {}; only files and directories below {} are pulled",
                        layer.digest, path, why, prefix));
    };
    ExtractedFiles done;
    int64_t entries = 0;
    struct archive_entry * entry = nullptr;
    int rc = 0;
    while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
        const char * raw = archive_entry_pathname(entry);
        DL_CHECK(raw != nullptr, ExitCode::bad_input, "layer {}: an entry without a path", layer.digest);
        if (std::strlen(raw) > kMaxPathBytes || has_dot_dot(raw))
            throw refuse(raw, "has a '..' component or a long path");
        const std::string path = clean_path(fs::path(raw).lexically_normal().generic_string());
        if (!path.starts_with(prefix)) continue;
        const std::string rel = path.substr(prefix.size());
        const auto type = archive_entry_filetype(entry);
        if (fs::path(rel).filename().string().starts_with(".wh.")) throw refuse(path, "is a whiteout");
        if (archive_entry_hardlink(entry) != nullptr) throw refuse(path, "is a hard link");
        if (type != AE_IFREG && type != AE_IFDIR)
            throw refuse(path,
                         type == AE_IFLNK ? "is a symbolic link" : "is not a regular file or directory");
        if (++entries > kMaxExtractedEntries)
            throw refuse(path, fmt::format("is past the {} entries a model may have", kMaxExtractedEntries));
        if (type == AE_IFREG) {
            const int64_t size = archive_entry_size(entry);
            if (size < 0 || size > kMaxExtractedBytes - done.bytes)
                throw refuse(path, fmt::format("takes the files past the {} GiB a model may have",
                                               kMaxExtractedBytes >> 30));
            done.bytes += size;
            ++done.files;
        }
        const std::string target = (root / rel).string();
        archive_entry_set_pathname(entry, target.c_str());
        DL_CHECK(archive_write_header(disk, entry) >= ARCHIVE_WARN, ExitCode::io, "{}: {}", target,
                 archive_error_string(disk));
        const void * block = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        int data_rc = 0;
        while ((data_rc = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK) {
            DL_CHECK(offset >= 0 && offset + static_cast<int64_t>(size) <= archive_entry_size(entry),
                     ExitCode::bad_input, "layer {}: entry '{:.200}' has more data than its size",
                     layer.digest, path);
            DL_CHECK(archive_write_data_block(disk, block, size, offset) == ARCHIVE_OK, ExitCode::io,
                     "{}: {}", target, archive_error_string(disk));
        }
        DL_CHECK(data_rc == ARCHIVE_EOF, ExitCode::bad_input, "layer {}: entry '{:.200}': {}", layer.digest,
                 path, archive_error_string(a));
        DL_CHECK(archive_write_finish_entry(disk) >= ARCHIVE_WARN, ExitCode::io, "{}: {}", target,
                 archive_error_string(disk));
    }
    DL_CHECK(rc == ARCHIVE_EOF, ExitCode::bad_input, "layer {}: {}", layer.digest, archive_error_string(a));
    DL_CHECK(archive_write_close(disk) >= ARCHIVE_WARN, ExitCode::io, "{}: {}", root.string(),
             archive_error_string(disk));
    return done;
}

std::string oci_layer_media_type(const std::string & media_type) {
    if (media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip")
        return "application/vnd.oci.image.layer.v1.tar+gzip";
    if (media_type == "application/vnd.docker.image.rootfs.diff.tar")
        return "application/vnd.oci.image.layer.v1.tar";
    return media_type;
}

}  // namespace dl::oci
