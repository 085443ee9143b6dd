// The image `dlctl push` sends, read from disk: an OCI image layout directory or a docker-archive tarball
// (read_local_image in registry_client.h).
#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <random>
#include <regex>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_limits.h"
#include "oci/registry_client.h"
#include "oci/registry_documents.h"

namespace dl::oci {

namespace fs = std::filesystem;
using namespace registry;

namespace {

// A JSON document of an image on disk, read only when it is not larger than one may be.
std::string read_document(const fs::path & path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    DL_CHECK(!ec, ExitCode::bad_input, "{}: cannot read it: {}", path.string(), ec.message());
    DL_CHECK(size <= kMaxDocumentBytes, ExitCode::bad_input,
             "{}: {} bytes, over the {} MiB a JSON document may have", path.string(), size,
             kMaxDocumentBytes >> 20);
    return read_file(path);
}

LocalImage read_oci_layout(const fs::path & dir, const std::string & tag) {
    DL_CHECK(fs::exists(dir / "index.json"), ExitCode::bad_input,
             "{}: not an OCI image layout (no index.json) nor a docker-archive", dir.string());
    const json index = parse_json(read_document(dir / "index.json"), (dir / "index.json").string());
    DL_CHECK(index.contains("manifests") && index["manifests"].is_array() && !index["manifests"].empty(),
             ExitCode::bad_input, "{}: index.json lists no manifests", dir.string());
    const json * chosen = nullptr;
    std::vector<std::string> names;
    for (const json & d : index["manifests"]) {
        const std::string name =
            d.value("annotations", json::object()).value("org.opencontainers.image.ref.name", "");
        names.push_back(name.empty() ? d.value("digest", "?") : name);
        if (!tag.empty() && name == tag) chosen = &d;
    }
    // Untagged as asked: the image when the layout holds one (listed once, or under several names).
    const bool one_image = std::all_of(
        index["manifests"].begin(), index["manifests"].end(),
        [&](const json & d) { return d.value("digest", "") == index["manifests"][0].value("digest", ""); });
    if (!chosen && one_image) chosen = &index["manifests"][0];
    DL_CHECK(chosen, ExitCode::bad_input, "{}: several images ({}) and none is tagged '{}'", dir.string(),
             fmt::join(names, ", "), tag);
    const std::string digest = chosen->value("digest", "");
    static const std::regex digest_re("sha256:[a-f0-9]{64}");
    DL_CHECK(std::regex_match(digest, digest_re), ExitCode::bad_input, "{}: bad manifest digest '{}'",
             dir.string(), digest);
    auto blob_path = [&](const std::string & d) { return dir / "blobs" / "sha256" / d.substr(7); };

    LocalImage image;
    image.manifest = read_document(blob_path(digest));
    image.manifest_digest = "sha256:" + sha256_hex(image.manifest);
    DL_CHECK(image.manifest_digest == digest, ExitCode::bad_input, "{}: manifest blob {} has digest {}",
             dir.string(), digest, image.manifest_digest);
    const json manifest = parse_json(image.manifest, blob_path(digest).string());
    image.manifest_media_type = chosen->value("mediaType", manifest.value("mediaType", kOciManifest));
    DL_CHECK(image.manifest_media_type.find("index") == std::string::npos &&
                 image.manifest_media_type.find("list") == std::string::npos,
             ExitCode::bad_input, "{}: multi-platform images ({}) are not supported", dir.string(),
             image.manifest_media_type);
    for (const auto & [d, size] : manifest_blobs(manifest, blob_path(digest).string())) {
        DL_CHECK(std::regex_match(d, digest_re), ExitCode::bad_input, "{}: bad blob digest '{}'",
                 dir.string(), d);
        const fs::path p = blob_path(d);
        DL_CHECK(fs::exists(p), ExitCode::bad_input, "{}: blob {} is missing", dir.string(), d);
        DL_CHECK(static_cast<int64_t>(fs::file_size(p)) == size, ExitCode::bad_input,
                 "{}: blob {} has {} bytes, the manifest says {}", dir.string(), d, fs::file_size(p), size);
        image.blobs.push_back({.digest = d, .size = size, .path = p});
    }
    return image;
}

// gzip without a file name or time stamp, so that the same layer always gets the same digest.
void gzip_file(const fs::path & from, const fs::path & to) {
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(to, std::ios::binary);
    DL_CHECK(in && out, ExitCode::io, "cannot compress {} into {}", from.string(), to.string());
    z_stream z{};
    DL_ASSERT(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::vector<char> inbuf(1 << 20), outbuf(1 << 20);
    int flush = Z_NO_FLUSH;
    do {
        in.read(inbuf.data(), static_cast<std::streamsize>(inbuf.size()));
        z.next_in = reinterpret_cast<Bytef *>(inbuf.data());
        z.avail_in = static_cast<uInt>(in.gcount());
        flush = in ? Z_NO_FLUSH : Z_FINISH;
        do {
            z.next_out = reinterpret_cast<Bytef *>(outbuf.data());
            z.avail_out = static_cast<uInt>(outbuf.size());
            deflate(&z, flush);
            out.write(outbuf.data(), static_cast<std::streamsize>(outbuf.size() - z.avail_out));
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    DL_CHECK(out.flush(), ExitCode::io, "{}: write failed", to.string());
}

bool is_gzip(const fs::path & path) {
    std::ifstream in(path, std::ios::binary);
    unsigned char magic[2] = {0, 0};
    in.read(reinterpret_cast<char *>(magic), 2);
    return magic[0] == 0x1f && magic[1] == 0x8b;
}

// Unpacks the tarball into scratch (entries by their archive names, which never leave it), then builds an OCI
// manifest from manifest.json: the config as is, each layer gzip-compressed unless it already is.
LocalImage read_docker_archive(const fs::path & tarball, const std::string & tag) {
    LocalImage image;
    image.scratch_dir =
        fs::temp_directory_path() / fmt::format("dlctl-push-{}-{}", getpid(), std::random_device{}());
    fs::create_directories(image.scratch_dir);
    const fs::path root = image.scratch_dir / "archive";
    fs::create_directories(root);
    struct archive * a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    std::unique_ptr<struct archive, int (*)(struct archive *)> owner(a, archive_read_free);
    DL_CHECK(archive_read_open_filename(a, tarball.c_str(), 1 << 16) == ARCHIVE_OK, ExitCode::bad_input,
             "{}: not an OCI layout directory nor a docker-archive tarball: {}", tarball.string(),
             archive_error_string(a));
    struct archive_entry * entry = nullptr;
    int rc = 0;
    while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
        const std::string name = archive_entry_pathname(entry);
        const fs::path rel = fs::path(name).lexically_normal();
        if (archive_entry_filetype(entry) != AE_IFREG || rel.is_absolute() || rel.empty() ||
            *rel.begin() == "..")
            continue;
        const fs::path target = root / rel;
        fs::create_directories(target.parent_path());
        std::ofstream out(target, std::ios::binary);
        const void * buf = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        while (archive_read_data_block(a, &buf, &size, &offset) == ARCHIVE_OK)
            out.write(static_cast<const char *>(buf), static_cast<std::streamsize>(size));
        DL_CHECK(out.flush(), ExitCode::io, "{}: write failed", target.string());
    }
    DL_CHECK(rc == ARCHIVE_EOF, ExitCode::bad_input, "{}: {}", tarball.string(), archive_error_string(a));
    DL_CHECK(fs::exists(root / "manifest.json"), ExitCode::bad_input,
             "{}: a tarball without manifest.json is not a docker-archive", tarball.string());
    const json entries =
        parse_json(read_document(root / "manifest.json"), tarball.string() + ":manifest.json");
    DL_CHECK(entries.is_array() && !entries.empty(), ExitCode::bad_input, "{}: manifest.json lists no image",
             tarball.string());
    const json * chosen = &entries[0];
    if (entries.size() > 1) {
        chosen = nullptr;
        for (const json & e : entries)
            for (const json & t : e.value("RepoTags", json::array()))
                if (const std::string s = t.get<std::string>(); s == tag || s.ends_with(":" + tag))
                    chosen = &e;
        DL_CHECK(chosen, ExitCode::bad_input, "{}: several images and none is tagged '{}'", tarball.string(),
                 tag);
    }
    auto add_blob = [&](const fs::path & path, const char * media_type) {
        LocalBlob b{
            .digest = file_sha256(path), .size = static_cast<int64_t>(fs::file_size(path)), .path = path};
        image.blobs.push_back(b);
        return json{{"mediaType", media_type}, {"digest", b.digest}, {"size", b.size}};
    };
    // Names from manifest.json stay inside the unpacked archive.
    auto inside = [&](const std::string & name) {
        const fs::path rel = fs::path(name).lexically_normal();
        DL_CHECK(!name.empty() && !rel.is_absolute() && *rel.begin() != "..", ExitCode::bad_input,
                 "{}: manifest.json names '{}', outside the archive", tarball.string(), name);
        return root / rel;
    };
    const fs::path config = inside(chosen->value("Config", ""));
    DL_CHECK(fs::is_regular_file(config), ExitCode::bad_input,
             "{}: the config file named in manifest.json is missing", tarball.string());
    json manifest = {{"schemaVersion", 2}, {"mediaType", kOciManifest}};
    manifest["config"] = add_blob(config, kOciConfig);
    manifest["layers"] = json::array();
    int n = 0;
    for (const json & layer : chosen->value("Layers", json::array())) {
        const fs::path path = inside(layer.get<std::string>());
        DL_CHECK(fs::is_regular_file(path), ExitCode::bad_input, "{}: layer {} is missing", tarball.string(),
                 layer.get<std::string>());
        fs::path gz = path;
        if (!is_gzip(path)) {
            gz = image.scratch_dir / fmt::format("layer{}.tar.gz", n++);
            gzip_file(path, gz);
        }
        manifest["layers"].push_back(add_blob(gz, kOciLayerGzip));
    }
    image.manifest = manifest.dump();
    image.manifest_media_type = kOciManifest;
    image.manifest_digest = "sha256:" + sha256_hex(image.manifest);
    return image;
}

}  // namespace

LocalImage::LocalImage(LocalImage && o) noexcept
    : manifest(std::move(o.manifest)),
      manifest_media_type(std::move(o.manifest_media_type)),
      manifest_digest(std::move(o.manifest_digest)),
      blobs(std::move(o.blobs)),
      scratch_dir(std::move(o.scratch_dir)) {
    o.scratch_dir.clear();
}

LocalImage::~LocalImage() {
    if (scratch_dir.empty()) return;
    std::error_code ec;
    fs::remove_all(scratch_dir, ec);
}

LocalImage read_local_image(const fs::path & path, const std::string & tag) {
    DL_CHECK(fs::exists(path), ExitCode::missing_input,
             "{}: no such image (an OCI layout directory or a tarball)", path.string());
    try {
        if (fs::is_directory(path)) return read_oci_layout(path, tag);
        return read_docker_archive(path, tag);
    } catch (const json::exception & e) {  // a member of the wrong type
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: not a valid image: {}", path.string(), json_error_text(e)));
    }
}

}  // namespace dl::oci
