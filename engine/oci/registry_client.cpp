#include "oci/registry_client.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_limits.h"

namespace dl::oci {

namespace fs = std::filesystem;
using nlohmann::json;

// -----------------------------------------------------------------------------------------------------------
// References

std::string RegistryReference::str() const {
    std::string s = registry + "/" + repository;
    if (!tag.empty()) s += ":" + tag;
    if (!digest.empty()) s += "@" + digest;
    return s;
}

RegistryReference parse_registry_reference(std::string_view text) {
    auto bad = [&](const std::string & why) {
        return Error(
            ExitCode::bad_input,
            fmt::format("invalid image reference '{}': {} (want REGISTRY/REPOSITORY:TAG)", text, why));
    };
    RegistryReference ref;
    std::string rest(text);
    if (auto at = rest.find('@'); at != std::string::npos) {
        ref.digest = rest.substr(at + 1);
        rest.resize(at);
        static const std::regex digest_re("sha256:[a-f0-9]{64}");
        if (!std::regex_match(ref.digest, digest_re)) throw bad("the digest is not sha256:<64 hex digits>");
    }
    const auto slash = rest.find('/');
    if (slash == std::string::npos) throw bad("no registry host");
    ref.registry = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
    // The tag is after the last colon of the path part (the registry's port colon is already split off).
    if (auto colon = rest.rfind(':'); colon != std::string::npos) {
        ref.tag = rest.substr(colon + 1);
        rest.resize(colon);
        static const std::regex tag_re("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
        if (!std::regex_match(ref.tag, tag_re)) throw bad(fmt::format("invalid tag '{}'", ref.tag));
    }
    ref.repository = rest;
    static const std::regex host_re(
        R"((\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:([0-9]{1,5}))?)");
    std::smatch m;
    if (!std::regex_match(ref.registry, m, host_re))
        throw bad(fmt::format("invalid registry '{}'", ref.registry));
    if (m[6].matched && std::stoi(m[6].str()) > 65535)
        throw bad(fmt::format("port {} is out of range", m[6].str()));
    // Without a dot, a port or "localhost" the first component is a repository path (docker.io/library/...),
    // which dlctl does not guess.
    if (ref.registry.find_first_of(".:[") == std::string::npos && ref.registry != "localhost")
        throw bad(fmt::format("'{}' is not a registry host (name one, e.g. localhost:5000/{})", ref.registry,
                              std::string(text)));
    static const std::regex repo_re("[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*");
    if (ref.repository.empty() || ref.repository.size() > 255 || !std::regex_match(ref.repository, repo_re))
        throw bad(
            fmt::format("invalid repository '{}' (lowercase letters, digits, . _ - and /)", ref.repository));
    if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
    return ref;
}

// -----------------------------------------------------------------------------------------------------------
// Reading the image to push

namespace {

constexpr const char * kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char * kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr const char * kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char * kIndexMediaType = "application/vnd.oci.image.index.v1+json";
constexpr const char * kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char * kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

std::string read_file(const fs::path & path) {
    std::ifstream in(path, std::ios::binary);
    DL_CHECK(in, ExitCode::missing_input, "{}: cannot read", path.string());
    return {std::istreambuf_iterator<char>(in), {}};
}

std::string file_sha256(const fs::path & path) {
    std::ifstream in(path, std::ios::binary);
    DL_CHECK(in, ExitCode::missing_input, "{}: cannot read", path.string());
    Sha256 h;
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        h.update(buf.data(), static_cast<size_t>(in.gcount()));
    }
    return "sha256:" + h.hex();
}

// Note [registry answers]: manifests, indexes, configs, tokens and error bodies are JSON from a registry or a
// file anyone may have written: each is at most kMaxDocumentBytes (the distribution spec's own manifest limit
// is 4 MiB) and parsed with the bounded parser (size and nesting checked before parsing).
constexpr size_t kMaxDocumentBytes = size_t{4} << 20;
constexpr int64_t kMaxImageBytes = int64_t{64} << 30;  // compressed layers of a pulled image

json parse_json(const std::string & text, const std::string & what) {
    return parse_json_bounded(text, what, {.max_bytes = kMaxDocumentBytes});
}

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

// A string member of a JSON object, or "" when it is absent or not a string (never nlohmann's type_error).
std::string string_member(const json & j, const char * key) {
    if (!j.is_object()) return "";
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Config and layers of a parsed manifest, in the order the manifest lists them.
std::vector<std::pair<std::string, int64_t>> manifest_blobs(const json & manifest, const std::string & what) {
    std::vector<std::pair<std::string, int64_t>> blobs;
    auto add = [&](const json & d) {
        DL_CHECK(d.is_object() && d.contains("digest") && d["digest"].is_string() && d.contains("size") &&
                     d["size"].is_number_integer() && d["size"].get<int64_t>() >= 0,
                 ExitCode::bad_input, "{}: a descriptor without a digest or a size", what);
        blobs.emplace_back(d["digest"].get<std::string>(), d["size"].get<int64_t>());
    };
    DL_CHECK(manifest.is_object() && manifest.contains("config") && manifest.contains("layers") &&
                 manifest["layers"].is_array(),
             ExitCode::bad_input, "{}: not an image manifest (no config or layers)", what);
    add(manifest["config"]);
    for (const json & layer : manifest["layers"]) add(layer);
    return blobs;
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

// -----------------------------------------------------------------------------------------------------------
// HTTP

namespace {

std::string to_lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string base64(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                        reinterpret_cast<const unsigned char *>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::optional<std::string> unbase64(std::string in) {
    in.erase(std::remove_if(in.begin(), in.end(),
                            [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
             in.end());
    if (in.empty() || in.size() % 4 != 0) return std::nullopt;
    std::string out(in.size() / 4 * 3, '\0');
    const int n =
        EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                        reinterpret_cast<const unsigned char *>(in.data()), static_cast<int>(in.size()));
    if (n < 0) return std::nullopt;
    size_t pad = 0;
    while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string url_escape(const std::string & s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out += static_cast<char>(c);
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

// Logged URLs keep only query parameters known to carry no secret (upload URLs carry signed state).
std::string loggable_url(const std::string & url) {
    const auto q = url.find('?');
    if (q == std::string::npos) return url;
    static const std::set<std::string> safe = {"digest", "mount", "from", "service", "scope"};
    std::string out = url.substr(0, q), sep = "?";
    std::string query = url.substr(q + 1);
    size_t start = 0;
    while (start <= query.size()) {
        const size_t end = std::min(query.find('&', start), query.size());
        const std::string kv = query.substr(start, end - start);
        const std::string key = kv.substr(0, kv.find('='));
        out += sep + (safe.contains(key) ? kv : key + "=REDACTED");
        sep = "&";
        start = end + 1;
    }
    return out;
}

struct Body {
    const std::string * bytes = nullptr;  // in memory, or:
    const fs::path * path = nullptr;      // a range of a file
    int64_t offset = 0, length = 0;
};

// Note [bounded answers]: nothing a registry sends is stored without a bound. A body that is not a blob
// (JSON, errors) is cut at kMaxDocumentBytes and the answer refused; a blob's body at the bytes still missing
// from it; headers at kMaxHeaderBytes in all. A registry that sends forever is thus refused, never waited
// for.
constexpr size_t kMaxHeaderBytes = 256 << 10;

struct Response {
    std::ostream * sink = nullptr;  // where a 2xx body goes (a downloaded blob) instead of `body`
    int64_t sink_limit = 0;         // the most bytes the sink may get (what the blob lacks)
    int64_t sink_written = 0;
    std::function<void(int64_t)> on_download;
    bool sink_started = false;
    std::string too_large;  // why the answer was cut, when it was
    size_t header_bytes = 0;
    CURLcode curl = CURLE_OK;
    std::string curl_error;
    long status = 0;
    std::multimap<std::string, std::string> headers;  // names lower-cased
    std::string body;
    std::string header(const std::string & name) const {
        auto range = headers.equal_range(name);
        return range.first == range.second ? "" : std::prev(range.second)->second;
    }
    // Connection errors, 5xx and 429 may pass; everything else is an answer.
    bool transient() const {
        return too_large.empty() && ((curl != CURLE_OK && !tls_rejected()) || status >= 500 || status == 429);
    }
    // A certificate that does not verify stays so: no retry, and a hint.
    bool tls_rejected() const {
        return curl == CURLE_PEER_FAILED_VERIFICATION || curl == CURLE_SSL_CACERT_BADFILE ||
               curl == CURLE_SSL_CERTPROBLEM || curl == CURLE_SSL_ISSUER_ERROR;
    }
};

struct Request {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;
    Body body;
    bool with_auth = true;          // false: the token realm, which gets Basic credentials instead
    std::ostream * sink = nullptr;  // a GET's 2xx body is written here
    int64_t sink_limit = 0;         // at most this many bytes
    bool follow_redirects = false;  // blob GETs: registries redirect to their storage
    bool finishes_blob = false;     // the PUT ending an upload: a registry may move a large blob meanwhile
};

// "scheme://host:port" of a URL, the port made explicit, lower-cased: where credentials may go.
std::string origin_of(const std::string & url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return "";
    const std::string scheme = to_lower(url.substr(0, scheme_end));
    const size_t host_start = scheme_end + 3;
    const size_t host_end = std::min(url.find_first_of("/?#", host_start), url.size());
    std::string authority = to_lower(url.substr(host_start, host_end - host_start));
    if (authority.find('@') != std::string::npos) return "";  // user@host: never ours
    const size_t bracket = authority.rfind(']');
    const size_t colon = authority.rfind(':');
    if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket))
        authority += scheme == "https" ? ":443" : ":80";
    return scheme + "://" + authority;
}

// One parsed `WWW-Authenticate` challenge: scheme and its parameters (values unquoted; commas inside quotes
// kept).
struct Challenge {
    std::string scheme;
    std::map<std::string, std::string> params;
    std::string param(const std::string & key) const {
        auto it = params.find(key);
        return it == params.end() ? "" : it->second;
    }
};

Challenge parse_challenge(const std::string & header) {
    Challenge c;
    size_t i = header.find(' ');
    c.scheme = to_lower(header.substr(0, i));
    if (i == std::string::npos) return c;
    while (i < header.size()) {
        while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
        const size_t eq = header.find('=', i);
        if (eq == std::string::npos) break;
        const std::string key = to_lower(header.substr(i, eq - i));
        i = eq + 1;
        std::string value;
        if (i < header.size() && header[i] == '"') {
            for (++i; i < header.size() && header[i] != '"'; ++i) {
                if (header[i] == '\\' && i + 1 < header.size()) ++i;
                value += header[i];
            }
            ++i;
        } else {
            const size_t end = std::min(header.find(',', i), header.size());
            value = header.substr(i, end - i);
            i = end;
        }
        c.params[key] = value;
    }
    return c;
}

// "repository:a:pull repository:b:pull,push" merged action by action with another such list.
std::string merge_scopes(const std::string & a, const std::string & b) {
    std::map<std::string, std::set<std::string>> merged;  // "repository:name" -> actions
    for (const std::string * list : {&a, &b}) {
        size_t start = 0;
        while (start < list->size()) {
            const size_t end = std::min(list->find(' ', start), list->size());
            const std::string scope = list->substr(start, end - start);
            start = end + 1;
            const auto colon = scope.rfind(':');
            if (scope.empty() || colon == std::string::npos) continue;
            auto & actions = merged[scope.substr(0, colon)];
            const std::string acts = scope.substr(colon + 1);
            size_t s = 0;
            while (s <= acts.size()) {
                const size_t e = std::min(acts.find(',', s), acts.size());
                if (e > s) actions.insert(acts.substr(s, e - s));
                s = e + 1;
            }
        }
    }
    std::vector<std::string> scopes;
    for (const auto & [resource, actions] : merged)
        scopes.push_back(fmt::format("{}:{}", resource, fmt::join(actions, ",")));
    return fmt::format("{}", fmt::join(scopes, " "));
}

std::pair<std::string, std::string> docker_config_credentials(const std::string & registry) {
    fs::path config;
    if (const char * dir = std::getenv("DOCKER_CONFIG"); dir && *dir)
        config = fs::path(dir) / "config.json";
    else if (const char * home = std::getenv("HOME"); home && *home)
        config = fs::path(home) / ".docker" / "config.json";
    std::error_code ec;
    if (config.empty() || !fs::is_regular_file(config, ec)) return {};
    json j;
    try {
        j = parse_json(read_file(config), config.string());
    } catch (const std::exception &) {
        return {};  // an unreadable docker config is as good as none; the registry will say what it wants
    }
    const json auths = j.is_object() && j.contains("auths") ? j["auths"] : json::object();
    for (const std::string & key : {registry, "https://" + registry, "http://" + registry}) {
        if (!auths.is_object() || !auths.contains(key)) continue;
        const auto decoded = unbase64(string_member(auths[key], "auth"));
        if (!decoded) continue;
        const auto colon = decoded->find(':');
        if (colon == std::string::npos) continue;
        return {decoded->substr(0, colon), decoded->substr(colon + 1)};
    }
    return {};
}

class RegistrySession {
public:
    // `scope`: the token scope asked for first, e.g. "repository:models/housing:pull,push".
    RegistrySession(const RegistryReference & ref, const RegistryOptions & o, std::string scope)
        : ref_(ref), o_(o), scope_(std::move(scope)) {
        curl_ = curl_easy_init();
        DL_ASSERT(curl_ != nullptr);
        base_ = "https://" + ref.registry;
        username_ = o.username;
        password_ = o.password;
        if (username_.empty()) std::tie(username_, password_) = docker_config_credentials(ref.registry);
    }
    ~RegistrySession() { curl_easy_cleanup(curl_); }
    RegistrySession(const RegistrySession &) = delete;
    RegistrySession & operator=(const RegistrySession &) = delete;

    std::string url(const std::string & path) const { return base_ + path; }
    // --insecure: a registry without TLS is spoken to in plain HTTP, as skopeo and docker do.
    void use_plain_http() { base_ = "http://" + ref_.registry; }
    std::string repo_url(const std::string & path) const { return base_ + "/v2/" + ref_.repository + path; }
    // A Location header may be absolute or relative to the registry.
    std::string resolve(const std::string & location) const {
        if (location.starts_with("http://") || location.starts_with("https://")) return location;
        return base_ + (location.starts_with("/") ? "" : "/") + location;
    }

    // Sends with authentication and retries; returns the first non-transient answer (401 handled inside).
    Response send(const Request & r) {
        for (int attempt = 0;; ++attempt) {
            Response res = send_once(r);
            if (!res.transient()) return res;
            if (!backoff(attempt, res, r)) fail_unavailable(res, r);
        }
    }

    // Sleeps before retry `attempt`+1, or returns false when the retries are spent. Per Note [bounded time],
    // the retries of one request also stop once it has been failing for timeout_s (attempt 0 starts the
    // clock), and no wait reaches past that (a Retry-After that asks for more gives up at once), so a
    // registry that accepts connections and never answers is given up on after about 2 x timeout_s (60 s
    // by default) whatever --retries or Retry-After say, and one that refuses them after the retries'
    // backoff (6 s with the default 5).
    bool backoff(int attempt, const Response & res, const Request & r) {
        attempts_ = attempt;
        if (!res.too_large.empty()) return false;
        const auto now = std::chrono::steady_clock::now();
        if (attempt == 0) failing_since_ = now;
        const int64_t budget_ms =
            int64_t{o_.timeout_s} * 1000 -
            std::chrono::duration_cast<std::chrono::milliseconds>(now - failing_since_).count();
        if (attempt >= o_.retries || budget_ms <= 0) return false;
        int64_t ms = std::min<int64_t>(int64_t{o_.backoff_base_ms} << std::min(attempt, 10), 10'000);
        if (const std::string after = res.header("retry-after"); !after.empty()) {
            char * end = nullptr;
            const long long seconds = std::strtoll(after.c_str(), &end, 10);
            if (end != after.c_str() && seconds >= 0) {
                if (seconds > budget_ms / 1000) {
                    warn(
                        fmt::format("{} {}: the registry asks to retry after {} s, beyond --timeout {} s: "
                                    "giving up",
                                    r.method, loggable_url(r.url), std::min<long long>(seconds, 999'999'999),
                                    o_.timeout_s));
                    return false;
                }
                ms = seconds * 1000;
            }
        }
        ms = std::min(ms, budget_ms);
        warn(fmt::format("retrying {} {} in {} ms ({}; attempt {} of {})", r.method, loggable_url(r.url), ms,
                         describe(res), attempt + 2, o_.retries + 1));
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return true;
    }

    [[noreturn]] void fail_unavailable(const Response & res, const Request & r) {
        if (!res.too_large.empty()) fail_unexpected(res, r, "reading the answer");
        throw Error(ExitCode::unavailable,
                    fmt::format("registry {} unavailable: {} {} failed after {} attempts: {}", ref_.registry,
                                r.method, loggable_url(r.url), attempts_ + 1, describe(res)));
    }

    // An answer the distribution API does not allow: the registry misbehaves, which is 69 (a service that is
    // not usable), as the README's exit-code table says; a 403 is 77.
    [[noreturn]] void fail_unexpected(const Response & res, const Request & r, const std::string & what) {
        std::string detail;
        if (res.too_large.empty())
            for (const char c : res.body.substr(0, 300))  // printable ASCII only: the registry wrote it
                if (c >= 0x20 && c < 0x7F) detail += c;
        throw Error(res.status == 403 ? ExitCode::denied : ExitCode::unavailable,
                    fmt::format("registry {}: {}: {} {} answered {}{}", ref_.registry, what, r.method,
                                loggable_url(r.url), describe(res), detail.empty() ? "" : ": " + detail));
    }

    // The registry answered, but not what the protocol promises (a digest that is not ours, garbage).
    [[noreturn]] void fail_misbehaving(const std::string & what) const {
        throw Error(ExitCode::unavailable, fmt::format("registry {} misbehaves: {}", ref_.registry, what));
    }

    static std::string describe(const Response & res) {
        if (!res.too_large.empty()) return res.too_large;
        if (res.curl != CURLE_OK) return res.curl_error;
        return fmt::format("HTTP {}", res.status);
    }

    void log(const std::string & line) const {
        if (o_.log) o_.log(line);
    }
    void warn(const std::string & line) const {
        if (o_.warn)
            o_.warn(line);
        else
            log(line);
    }

    // GET /v2/ finds out whether and how the registry authenticates (a 401 logs in), whether it speaks TLS,
    // and whether it is there at all.
    void ping() {
        Request ping{.method = "GET", .url = url("/v2/")};
        Response pong = send_once(ping);
        if (o_.insecure && pong.curl == CURLE_SSL_CONNECT_ERROR) {
            log("no TLS handshake with " + ref_.registry + ": trying plain HTTP (--insecure)");
            use_plain_http();
            ping.url = url("/v2/");
            pong = send_once(ping);
        }
        if (!o_.insecure && pong.curl == CURLE_SSL_CONNECT_ERROR && speaks_plain_http())
            throw Error(ExitCode::unavailable,
                        fmt::format("registry {}: no TLS handshake ({}): the registry speaks plain HTTP; use "
                                    "--insecure",
                                    ref_.registry, pong.curl_error));
        if (pong.tls_rejected())
            throw Error(
                ExitCode::unavailable,
                fmt::format("registry {}: its TLS certificate does not verify: {} (a private CA can be "
                            "given in $CURL_CA_BUNDLE; --insecure skips verification)",
                            ref_.registry, pong.curl_error));
        for (int attempt = 0; pong.transient(); ++attempt) {
            if (!backoff(attempt, pong, ping)) fail_unavailable(pong, ping);
            pong = send_once(ping);
        }
        if (pong.status != 200) fail_unexpected(pong, ping, "not an OCI distribution registry");
    }

    // After a failed TLS handshake: whether GET /v2/ in plain HTTP gets an HTTP answer (no credentials sent).
    bool speaks_plain_http() {
        const std::string saved = base_;
        use_plain_http();
        Request probe{.method = "GET", .url = url("/v2/"), .with_auth = false};
        const bool saved_basic = use_basic_;
        const std::string saved_user = username_;
        username_.clear();  // with_auth = false would otherwise send Basic credentials
        const Response res = perform(probe);
        username_ = saved_user;
        use_basic_ = saved_basic;
        base_ = saved;
        return res.curl == CURLE_OK && res.status > 0;
    }

    std::function<void(int64_t)> on_upload;    // bytes of the current body sent so far
    std::function<void(int64_t)> on_download;  // bytes of a body received since the last call

    // One attempt, authenticated (a 401 is answered by logging in and sending again), without retries: for
    // uploads, whose retries need more than sending the same request again.
    Response send_once(const Request & r) {
        refresh_token_if_expired();
        for (;;) {
            Response res = perform(r);
            if (res.status != 401 || !r.with_auth) return res;
            const Challenge c = parse_challenge(res.header("www-authenticate"));
            if (c.scheme == "basic") {
                if (username_.empty())
                    throw Error(ExitCode::denied,
                                fmt::format("registry {} requires authentication: give --username U "
                                            "--password-stdin (or docker login credentials in "
                                            "$DOCKER_CONFIG/config.json)",
                                            ref_.registry));
                if (use_basic_) throw denied("the credentials were rejected");
                use_basic_ = true;
            } else if (c.scheme == "bearer") {
                // The first challenge gets a token; a token short of scope is widened once to what the
                // registry asks for; any other 401 with a token in hand is final.
                const bool short_of_scope = c.param("error") == "insufficient_scope";
                if (!token_.empty() && (!short_of_scope || widened_))
                    throw denied(short_of_scope ? "the token lacks the scope " + c.param("scope")
                                                : "the registry rejected the token");
                if (!token_.empty()) widened_ = true;
                if (!c.param("scope").empty()) scope_ = merge_scopes(scope_, c.param("scope"));
                realm_ = c.param("realm");
                service_ = c.param("service");
                DL_CHECK(!realm_.empty(), ExitCode::denied, "registry {}: a Bearer challenge without a realm",
                         ref_.registry);
                fetch_token();
            } else {
                throw denied(fmt::format("unsupported authentication scheme '{}'", c.scheme));
            }
        }
    }

private:
    Error denied(const std::string & why) const {
        return Error(
            ExitCode::denied,
            fmt::format("registry {} denied access{}: {}", ref_.registry,
                        username_.empty() ? " (anonymous)" : fmt::format(" for user '{}'", username_), why));
    }

    void refresh_token_if_expired() {
        if (!token_.empty() && std::chrono::steady_clock::now() >= token_expiry_) fetch_token();
    }

    void fetch_token() {
        std::string u = realm_ + (realm_.find('?') == std::string::npos ? "?" : "&");
        if (!service_.empty()) u += "service=" + url_escape(service_) + "&";
        size_t start = 0;
        while (start < scope_.size()) {
            const size_t end = std::min(scope_.find(' ', start), scope_.size());
            u += "scope=" + url_escape(scope_.substr(start, end - start)) + "&";
            start = end + 1;
        }
        u.pop_back();
        // The realm may be another host (docker's client sends it the credentials too), but never in clear
        // text behind a registry spoken to over TLS.
        if (!username_.empty() && !o_.insecure && to_lower(realm_).starts_with("http://"))
            throw denied(
                fmt::format("its token realm {} is plain HTTP: the credentials are not sent in clear "
                            "text (--insecure allows it)",
                            loggable_url(realm_)));
        Request r{.method = "GET", .url = u, .with_auth = false};
        Response res;
        for (int attempt = 0;; ++attempt) {
            res = perform(r);
            if (!res.transient()) break;
            if (!backoff(attempt, res, r)) fail_unavailable(res, r);
        }
        if (res.status == 401 || res.status == 403)
            throw denied(fmt::format("the token server {} refused the credentials (HTTP {})",
                                     loggable_url(realm_), res.status));
        if (res.status != 200) fail_unexpected(res, r, "fetching a token");
        json j;
        try {
            j = parse_json(res.body, "the token server's answer");
        } catch (const Error &) {
            fail_unexpected(res, r, "fetching a token (not JSON)");
        }
        token_ = string_member(j, "token");
        if (token_.empty()) token_ = string_member(j, "access_token");
        if (token_.empty()) throw denied("the token server answered without a token");
        // It goes into a header: no spaces, controls or bytes outside ASCII (RFC 6750's b64token and more).
        if (token_.size() > 64 * 1024 ||
            !std::all_of(token_.begin(), token_.end(), [](char c) { return c > 0x20 && c < 0x7F; })) {
            token_.clear();
            fail_misbehaving("the token server answered a token that is not printable ASCII");
        }
        const int64_t expires_in = j.contains("expires_in") && j["expires_in"].is_number_integer()
                                       ? std::clamp<int64_t>(j["expires_in"].get<int64_t>(), 0, 86400)
                                       : 60;
        // Renewed a little early so that a token never expires between check and use.
        token_expiry_ =
            std::chrono::steady_clock::now() + std::chrono::seconds(std::max<int64_t>(expires_in - 5, 1));
    }

    static size_t on_header(char * data, size_t size, size_t n, void * user) {
        auto * res = static_cast<Response *>(user);
        res->header_bytes += size * n;
        if (res->header_bytes > kMaxHeaderBytes) {
            res->too_large = fmt::format("headers over {} KiB", kMaxHeaderBytes >> 10);
            return 0;  // aborts the transfer
        }
        std::string line(data, size * n);
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        if (line.starts_with("HTTP/")) {
            res->headers.clear();  // a new response (after 100-continue or a redirect)
            // The status is needed before the body arrives, to know whether it goes to the sink.
            if (auto space = line.find(' '); space != std::string::npos)
                res->status = std::strtol(line.c_str() + space + 1, nullptr, 10);
        } else if (auto colon = line.find(':'); colon != std::string::npos) {
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            res->headers.emplace(to_lower(line.substr(0, colon)), value);
        }
        return size * n;
    }
    static size_t on_body(char * data, size_t size, size_t n, void * user) {
        auto * res = static_cast<Response *>(user);
        if (res->sink && res->status >= 200 && res->status < 300) {
            // A whole body (200) after a Range request that the server ignored replaces the partial file.
            if (!res->sink_started && res->status == 200) res->sink->seekp(0);
            res->sink_started = true;
            res->sink_written += static_cast<int64_t>(size * n);
            if (res->sink_written > res->sink_limit) {
                res->too_large = fmt::format("more than the {} bytes the blob has", res->sink_limit);
                return 0;
            }
            res->sink->write(data, static_cast<std::streamsize>(size * n));
            if (!*res->sink) return 0;  // a full disk aborts the transfer
            if (res->on_download) res->on_download(static_cast<int64_t>(size * n));
            return size * n;
        }
        if (res->body.size() + size * n > kMaxDocumentBytes) {
            res->too_large = fmt::format("a body over {} MiB", kMaxDocumentBytes >> 20);
            return 0;
        }
        res->body.append(data, size * n);  // error bodies and JSON only
        return size * n;
    }
    struct Upload {
        const Body * body;
        std::ifstream file;
        int64_t sent = 0;
        RegistrySession * session;
    };
    static size_t on_read(char * buffer, size_t size, size_t n, void * user) {
        auto * up = static_cast<Upload *>(user);
        const int64_t want = std::min<int64_t>(static_cast<int64_t>(size * n), up->body->length - up->sent);
        if (want <= 0) return 0;
        if (up->body->bytes) {
            std::memcpy(buffer, up->body->bytes->data() + up->sent, static_cast<size_t>(want));
        } else {
            up->file.read(buffer, want);
            if (up->file.gcount() != want) return CURL_READFUNC_ABORT;
        }
        up->sent += want;
        if (up->session->on_upload) up->session->on_upload(up->sent);
        return static_cast<size_t>(want);
    }

    // curl rewinds a body to send it again on a fresh connection (a kept-alive one the server had closed).
    static int on_seek(void * user, curl_off_t offset, int origin) {
        auto * up = static_cast<Upload *>(user);
        if (origin != SEEK_SET || offset < 0 || offset > up->body->length) return CURL_SEEKFUNC_FAIL;
        if (up->body->path) {
            up->file.clear();
            up->file.seekg(up->body->offset + offset);
            if (!up->file) return CURL_SEEKFUNC_FAIL;
        }
        up->sent = offset;
        return CURL_SEEKFUNC_OK;
    }

    Response perform(const Request & r) {
        curl_easy_reset(curl_);  // keeps the connection, DNS and TLS session caches
        Response res;
        res.sink = r.sink;
        res.sink_limit = r.sink_limit;
        res.on_download = on_download;
        if (r.follow_redirects) {
            // Per Note [credentials stay home], libcurl sends no Authorization header (ours is a custom one)
            // to another scheme, host or port when it follows a redirect (a storage backend's signed URL) as
            // long as CURLOPT_UNRESTRICTED_AUTH is off, which it is, explicitly.
            curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 5L);
            curl_easy_setopt(curl_, CURLOPT_UNRESTRICTED_AUTH, 0L);
        }
        // A realm or Location naming file://, ftp:// or anything else is refused by libcurl itself.
        curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl_, CURLOPT_URL, r.url.c_str());
        curl_easy_setopt(curl_, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 10L);
        // Note [bounded time]: a request without a blob body must be answered whole within timeout_s; a blob
        // transfer may take as long as it needs but one stalled (under 1 KiB/s for 2 x timeout_s) is a
        // connection error, retried.
        const bool blob_transfer = r.sink != nullptr || r.body.path != nullptr || r.finishes_blob;
        if (!blob_transfer) curl_easy_setopt(curl_, CURLOPT_TIMEOUT, static_cast<long>(o_.timeout_s));
        curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME,
                         static_cast<long>(blob_transfer ? 2 * o_.timeout_s : o_.timeout_s));
        curl_easy_setopt(curl_, CURLOPT_USERAGENT, "dlctl");
        if (o_.insecure) {
            curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &res);
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &res);
        char error[CURL_ERROR_SIZE] = {0};
        curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
        // The curl tool's variable for a private CA (a company or test registry), honoured the same way.
        if (const char * ca = std::getenv("CURL_CA_BUNDLE"); ca && *ca)
            curl_easy_setopt(curl_, CURLOPT_CAINFO, ca);

        Upload up{.body = &r.body, .session = this};
        if (r.body.path) {
            up.file.open(*r.body.path, std::ios::binary);
            DL_CHECK(up.file, ExitCode::missing_input, "{}: cannot read", r.body.path->string());
            up.file.seekg(r.body.offset);
        }
        const bool has_body = r.body.bytes || r.body.path;
        if (r.method == "HEAD") {
            curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
        } else if (r.method == "GET") {
            curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
        } else if (r.method == "POST" && !has_body) {
            curl_easy_setopt(curl_, CURLOPT_POST, 1L);
            curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, 0L);
        } else {
            // PUT and PATCH, with or without a body: curl's upload mode streams it with a Content-Length.
            curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(curl_, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(curl_, CURLOPT_READDATA, &up);
            curl_easy_setopt(curl_, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(curl_, CURLOPT_SEEKDATA, &up);
            curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE,
                             static_cast<curl_off_t>(has_body ? r.body.length : 0));
            if (r.method != "PUT") curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, r.method.c_str());
        }
        struct curl_slist * headers = nullptr;
        for (const std::string & h : r.headers) headers = curl_slist_append(headers, h.c_str());
        headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
        // Note [credentials stay home]: credentials and tokens go only to the registry's own scheme, host and
        // port (an upload Location on another host, a storage backend, gets none), and Basic credentials to
        // the token realm the registry names, as docker's client does.
        const bool home = origin_of(r.url) == origin_of(base_);
        if (!home && r.with_auth && (use_basic_ || !token_.empty()))
            log(fmt::format("{} is not {}: no credentials sent there", loggable_url(r.url), ref_.registry));
        if (!r.with_auth) {
            if (!username_.empty())
                headers = curl_slist_append(
                    headers, ("Authorization: Basic " + base64(username_ + ":" + password_)).c_str());
        } else if (!home) {
        } else if (!token_.empty()) {
            headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
        } else if (use_basic_) {
            headers = curl_slist_append(
                headers, ("Authorization: Basic " + base64(username_ + ":" + password_)).c_str());
        }
        curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
        res.curl = curl_easy_perform(curl_);
        curl_slist_free_all(headers);
        if (!res.too_large.empty()) {  // refused, whatever its status said
            res.curl_error = res.too_large;
            res.headers.clear();
            res.status = 0;
        } else if (res.curl != CURLE_OK) {
            res.curl_error = error[0] ? error : curl_easy_strerror(res.curl);
            res.headers.clear();
            res.status = 0;
        } else {
            curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &res.status);
        }
        log(fmt::format("{} {} -> {}", r.method, loggable_url(r.url), describe(res)));
        return res;
    }

    CURL * curl_;
    const RegistryReference & ref_;
    const RegistryOptions & o_;
    std::string scope_;
    std::string base_;
    std::string username_, password_;
    bool use_basic_ = false;
    std::string realm_, service_, token_;
    bool widened_ = false;
    std::chrono::steady_clock::time_point token_expiry_;
    std::chrono::steady_clock::time_point failing_since_;  // when the current request first failed
    int attempts_ = 0;                                     // retries of the current request so far
};

// -----------------------------------------------------------------------------------------------------------
// Pushing

class Pusher {
public:
    Pusher(const LocalImage & image, const RegistryReference & ref, const PushOptions & o)
        : image_(image), ref_(ref), o_(o), session_(ref, o, push_scope(ref, o)) {}

    static std::string push_scope(const RegistryReference & ref, const PushOptions & o) {
        std::string scope = fmt::format("repository:{}:pull,push", ref.repository);
        if (!o.mount_from.empty())
            scope = merge_scopes(scope, fmt::format("repository:{}:pull", o.mount_from));
        return scope;
    }

    PushResult run() {
        if (!ref_.digest.empty() && ref_.digest != image_.manifest_digest)
            throw Error(ExitCode::bad_input,
                        fmt::format("the reference names digest {}, but the image's manifest is {}",
                                    ref_.digest, image_.manifest_digest));
        session_.ping();

        PushResult result{.reference = ref_.str()};
        std::set<std::string> seen;
        for (const LocalBlob & blob : image_.blobs) {
            if (!seen.insert(blob.digest).second) continue;
            if (blob_exists(blob)) {
                result.skipped.push_back(blob.digest);
                progress(blob, blob.size);
                continue;
            }
            std::string location;
            if (!o_.mount_from.empty()) {
                location = mount(blob);
                if (location.empty()) {
                    result.mounted.push_back(blob.digest);
                    progress(blob, blob.size);
                    continue;
                }
            }
            upload(blob, location);
            result.pushed.push_back(blob.digest);
        }
        result.digest = put_manifest();
        return result;
    }

private:
    void progress(const LocalBlob & blob, int64_t done) {
        if (o_.progress) o_.progress(blob.digest, done, blob.size);
    }

    // Note [confirmed pushes]: a blob counts as present only when the registry's HEAD names it: a 200 with
    // our digest in Docker-Content-Digest and our size in Content-Length (a 3xx to its storage with our
    // digest). Anything else is uploaded, and an upload counts only when answered 201 with our digest where
    // the registry gives one; the manifest counts only when the registry confirms its digest (below).
    bool blob_exists(const LocalBlob & blob) {
        Request r{.method = "HEAD", .url = session_.repo_url("/blobs/" + blob.digest)};
        const Response res = session_.send(r);
        if (res.status == 404) return false;
        const std::string digest = res.header("docker-content-digest");
        if (res.status == 200) {
            char * end = nullptr;
            const std::string length = res.header("content-length");
            const long long size = std::strtoll(length.c_str(), &end, 10);
            if (digest == blob.digest && !length.empty() && *end == '\0' && size == blob.size) return true;
        } else if (res.status >= 300 && res.status < 400 && digest == blob.digest) {
            return true;  // a registry redirecting to its storage backend
        }
        if (res.status == 200 || (res.status >= 300 && res.status < 400)) {
            session_.log(
                fmt::format("{}: HEAD answered {} without its digest and size ({} bytes): uploading it",
                            blob.digest, res.status, blob.size));
            return false;
        }
        session_.fail_unexpected(res, r, "checking blob " + blob.digest);
    }

    // Empty when the blob was mounted; else the upload the registry opened instead (202), to upload into.
    std::string mount(const LocalBlob & blob) {
        Request r{
            .method = "POST",
            .url = session_.repo_url("/blobs/uploads/?mount=" + blob.digest + "&from=" + o_.mount_from)};
        const Response res = session_.send(r);
        if (res.status == 201) {
            const std::string stored = res.header("docker-content-digest");
            if (!stored.empty() && stored != blob.digest)
                session_.fail_misbehaving(fmt::format("it mounted blob {} as {:.80}", blob.digest, stored));
            return "";
        }
        if (res.status == 202 && !res.header("location").empty()) {
            session_.log(fmt::format("{} is not in {}: uploading it", blob.digest, o_.mount_from));
            return session_.resolve(res.header("location"));
        }
        session_.fail_unexpected(res, r, "mounting blob " + blob.digest + " from " + o_.mount_from);
    }

    std::string start_upload(const LocalBlob & blob) {
        Request r{.method = "POST", .url = session_.repo_url("/blobs/uploads/")};
        const Response res = session_.send(r);
        if (res.status != 202 || res.header("location").empty())
            session_.fail_unexpected(res, r, "starting the upload of " + blob.digest);
        return session_.resolve(res.header("location"));
    }

    static std::string with_query(const std::string & url, const std::string & query) {
        return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
    }

    // Note [upload retries]: a failed monolithic upload starts over with a new session; a failed chunk asks
    // the registry how much it has (GET on the upload URL answers `Range: 0-LAST`) and resumes from there. An
    // upload the registry no longer knows (404: restarted, or purged as stale) starts over from byte 0.
    // `location`: an upload already opened (by a mount the registry declined), else empty.
    void upload(const LocalBlob & blob, std::string location) {
        const bool chunked = blob.size > o_.chunk_size;
        int failures = 0;
        session_.on_upload = [&](int64_t sent) { progress(blob, progress_base_ + sent); };
        struct ClearProgress {
            RegistrySession & s;
            ~ClearProgress() { s.on_upload = nullptr; }
        } clear{session_};

        if (location.empty()) location = start_upload(blob);
        if (chunked) location = send_chunks(blob, location, 0, failures);
        progress_base_ = 0;
        Request put{.method = "PUT",
                    .url = with_query(location, "digest=" + blob.digest),
                    .headers = {"Content-Type: application/octet-stream"},
                    .finishes_blob = true};
        if (!chunked) put.body = {.path = &blob.path, .offset = 0, .length = blob.size};
        for (;;) {
            const Response res = session_.send_once(put);
            if (res.status == 201) {
                const std::string stored = res.header("docker-content-digest");
                if (!stored.empty() && stored != blob.digest)
                    session_.fail_misbehaving(
                        fmt::format("it stored the blob {} as {}", blob.digest, stored.substr(0, 80)));
                return;
            }
            if (!res.transient() && res.status != 404)
                session_.fail_unexpected(res, put, "finishing the upload of " + blob.digest);
            if (!session_.backoff(failures++, res, put)) session_.fail_unavailable(res, put);
            if (res.status == 404) {
                session_.warn(
                    fmt::format("the registry lost the upload of {}: starting it over", blob.digest));
                location = start_upload(blob);
                if (chunked) location = send_chunks(blob, location, 0, failures);
            } else if (!chunked) {
                // The registry may hold part of the body; a fresh upload is simpler than reconciling it.
                location = start_upload(blob);
            } else {
                auto [newest, offset] = upload_status(blob, location);
                location = offset < blob.size ? send_chunks(blob, newest, offset, failures) : newest;
            }
            put.url = with_query(location, "digest=" + blob.digest);
        }
    }

    // PATCHes the blob from `offset` to its end in chunks, resuming after failures; returns the newest
    // Location.
    std::string send_chunks(const LocalBlob & blob, std::string location, int64_t offset, int & failures) {
        while (offset < blob.size) {
            const int64_t length = std::min(o_.chunk_size, blob.size - offset);
            progress_base_ = offset;
            Request r{.method = "PATCH",
                      .url = location,
                      .headers = {"Content-Type: application/octet-stream",
                                  fmt::format("Content-Range: {}-{}", offset, offset + length - 1)},
                      .body = {.path = &blob.path, .offset = offset, .length = length}};
            const Response res = session_.send_once(r);
            if (res.status == 202) {
                if (!res.header("location").empty()) location = session_.resolve(res.header("location"));
                offset += length;
                continue;
            }
            // 416: the registry holds a different amount than we thought (a chunk landed but its answer was
            // lost). 404: it lost the upload.
            if (!res.transient() && res.status != 416 && res.status != 404)
                session_.fail_unexpected(res, r, "uploading " + blob.digest);
            if (!session_.backoff(failures++, res, r)) session_.fail_unavailable(res, r);
            if (res.status == 404) {
                session_.warn(
                    fmt::format("the registry lost the upload of {}: starting it over", blob.digest));
                location = start_upload(blob);
                offset = 0;
                continue;
            }
            std::tie(location, offset) = upload_status(blob, location);
        }
        return location;
    }

    // Where an interrupted upload stands: its newest Location and the next offset the registry expects.
    std::pair<std::string, int64_t> upload_status(const LocalBlob & blob, const std::string & location) {
        Request r{.method = "GET", .url = location};
        const Response res = session_.send(r);
        if (res.status == 404) {
            session_.warn(fmt::format("the registry lost the upload of {}: starting it over", blob.digest));
            return {start_upload(blob), 0};
        }
        if (res.status != 204)
            session_.fail_unexpected(res, r, "asking how much of " + blob.digest + " arrived");
        int64_t next = 0;
        const std::string range = res.header("range");
        if (auto dash = range.find('-'); dash != std::string::npos) {
            char * end = nullptr;
            const long long last = std::strtoll(range.c_str() + dash + 1, &end, 10);
            if (end == range.c_str() + dash + 1 || *end != '\0' || last < 0 || last >= blob.size)
                session_.fail_misbehaving(fmt::format("the upload of {} answered Range '{:.80}' for {} bytes",
                                                      blob.digest, range, blob.size));
            next = last + 1;
        }
        // distribution answers "0-0" both for nothing and for one byte; with nothing written yet it is
        // nothing.
        if (range == "0-0" || range == "bytes=0-0") next = 0;
        session_.warn(fmt::format("resuming {} at byte {} of {}", blob.digest, next, blob.size));
        const std::string newest =
            res.header("location").empty() ? location : session_.resolve(res.header("location"));
        return {newest, next};
    }

    std::string put_manifest() {
        const std::string target = ref_.tag.empty() ? ref_.digest : ref_.tag;
        Request r{
            .method = "PUT",
            .url = session_.repo_url("/manifests/" + target),
            .headers = {"Content-Type: " + image_.manifest_media_type},
            .body = {.bytes = &image_.manifest, .length = static_cast<int64_t>(image_.manifest.size())}};
        const Response res = session_.send(r);
        if (res.status != 201 && res.status != 200) session_.fail_unexpected(res, r, "putting the manifest");
        const std::string reported = res.header("docker-content-digest");
        if (!reported.empty() && reported != image_.manifest_digest)
            session_.fail_misbehaving(
                fmt::format("it stored the manifest as {:.80}, but its bytes hash to {}", reported,
                            image_.manifest_digest));
        // Per Note [confirmed pushes], the spec's answer is 201 with the digest. Anything short of that is
        // believed only when a HEAD of the manifest names our digest.
        if (res.status == 201 && reported == image_.manifest_digest) return image_.manifest_digest;
        Request head{.method = "HEAD",
                     .url = session_.repo_url("/manifests/" + target),
                     .headers = {"Accept: " + image_.manifest_media_type}};
        const Response check = session_.send(head);
        const std::string stored = check.header("docker-content-digest");
        if (check.status != 200 || stored != image_.manifest_digest)
            session_.fail_misbehaving(
                fmt::format("the manifest PUT was answered HTTP {} {}, and a HEAD of it HTTP {} with digest "
                            "'{:.80}', not "
                            "{}: nothing confirms that the image was stored",
                            res.status, reported.empty() ? "without a digest" : "with digest " + reported,
                            check.status, stored, image_.manifest_digest));
        return image_.manifest_digest;
    }

    const LocalImage & image_;
    const RegistryReference & ref_;
    const PushOptions & o_;
    RegistrySession session_;
    int64_t progress_base_ = 0;  // bytes of the current blob sent before the current request
};

// Note [pulled blobs]: each blob is downloaded to a private partial file in the cache and renamed to its
// digest only once its sha256 matches, so the cache only ever holds verified blobs and is shared safely by
// concurrent runs. A dropped download resumes with `Range: bytes=N-` (a registry that ignores it answers 200
// and the file is written from the start again).
class Puller {
public:
    Puller(const RegistryReference & ref, const RegistryOptions & o, fs::path cache)
        : ref_(ref),
          o_(o),
          cache_(std::move(cache)),
          session_(ref, o, fmt::format("repository:{}:pull", ref.repository)) {}

    PulledImage run(const std::string & platform) {
        const auto slash = platform.find('/');
        DL_CHECK(slash != std::string::npos, ExitCode::usage, "platform '{}': want OS/ARCH, e.g. linux/amd64",
                 platform);
        const std::string os = platform.substr(0, slash), arch = platform.substr(slash + 1);
        session_.ping();
        PulledImage image{.reference = ref_.str()};
        Manifest m = get_manifest(ref_.digest.empty() ? ref_.tag : ref_.digest, ref_.digest);
        if (m.is_index()) {
            const json * chosen = nullptr;
            std::vector<std::string> offered;
            const json entries = m.parsed.value("manifests", json::array());
            for (const json & d : entries) {
                const json p = d.value("platform", json::object());
                offered.push_back(p.value("os", "?") + "/" + p.value("architecture", "?"));
                if (!chosen && p.value("os", "") == os && p.value("architecture", "") == arch) chosen = &d;
            }
            DL_CHECK(chosen, ExitCode::bad_input, "{}: no image for {} (it has {})", ref_.str(), platform,
                     fmt::join(offered, ", "));
            const std::string digest = chosen->value("digest", "");
            m = get_manifest(digest, digest);
            DL_CHECK(!m.is_index(), ExitCode::bad_input, "{}: an index inside an index is not supported",
                     ref_.str());
        }
        DL_CHECK(m.parsed.value("schemaVersion", 0) == 2, ExitCode::bad_input,
                 "{}: a schema {} manifest (only schema 2 and OCI images are supported)", ref_.str(),
                 m.parsed.value("schemaVersion", 0));
        image.manifest_digest = m.digest;
        image.manifest = m.parsed;
        const auto blobs = manifest_blobs(m.parsed, ref_.str());
        DL_CHECK(blobs[0].second <= static_cast<int64_t>(kMaxDocumentBytes), ExitCode::bad_input,
                 "{}: a config of {} bytes (at most {} are read)", ref_.str(), blobs[0].second,
                 kMaxDocumentBytes);
        image.config = parse_json(read_file(fetch_blob(blobs[0].first, blobs[0].second)),
                                  ref_.str() + ": config " + blobs[0].first);
        DL_CHECK(image.config.value("os", "") == os && image.config.value("architecture", "") == arch,
                 ExitCode::bad_input, "{} is a {}/{} image, not {}", ref_.str(),
                 image.config.value("os", "?"), image.config.value("architecture", "?"), platform);
        // Per Note [bounded answers], the layers' sizes, as the manifest gives them, bound what is
        // downloaded; their sum is bounded before anything is (a CUDA devel image is ~10 GB).
        int64_t total = 0;
        for (size_t i = 1; i < blobs.size(); ++i) total += std::min(blobs[i].second, kMaxImageBytes + 1);
        DL_CHECK(total <= kMaxImageBytes, ExitCode::bad_input,
                 "{}: its layers claim more than the {} GiB an image may have", ref_.str(),
                 kMaxImageBytes >> 30);
        for (const json & layer : m.parsed["layers"]) {
            const std::string media_type = layer.value("mediaType", "");
            DL_CHECK(media_type.find("foreign") == std::string::npos &&
                         media_type.find("nondistributable") == std::string::npos,
                     ExitCode::bad_input, "{}: a non-distributable layer ({}) cannot be built upon",
                     ref_.str(), media_type);
            const std::string digest = layer.value("digest", "");
            const int64_t size = layer.value("size", int64_t{0});
            image.layers.push_back(
                {.media_type = media_type, .digest = digest, .size = size, .path = fetch_blob(digest, size)});
        }
        return image;
    }

private:
    struct Manifest {
        std::string media_type, digest;
        json parsed;
        bool is_index() const {
            return media_type.find("index") != std::string::npos ||
                   media_type.find("manifest.list") != std::string::npos;
        }
    };

    Manifest get_manifest(const std::string & reference, const std::string & expected_digest) {
        Request r{.method = "GET",
                  .url = session_.repo_url("/manifests/" + reference),
                  .headers = {fmt::format("Accept: {}, {}, {}, {}", kOciManifest, kIndexMediaType,
                                          kDockerManifest, kDockerManifestList)}};
        const Response res = session_.send(r);
        if (res.status == 404)
            throw Error(ExitCode::missing_input,
                        fmt::format("{}: no such image in registry {}", ref_.str(), ref_.registry));
        if (res.status != 200) session_.fail_unexpected(res, r, "getting the manifest of " + ref_.str());
        Manifest m;
        m.digest = "sha256:" + sha256_hex(res.body);
        const std::string reported = res.header("docker-content-digest");
        const std::string & want = expected_digest.empty() ? reported : expected_digest;
        if (!want.empty() && want != m.digest)
            session_.fail_misbehaving(
                fmt::format("the manifest of {} hashes to {}, not {:.80}", ref_.str(), m.digest, want));
        m.parsed = parse_json(res.body, ref_.str() + ": manifest");
        DL_CHECK(m.parsed.is_object(), ExitCode::bad_input, "{}: the manifest is not a JSON object",
                 ref_.str());
        m.media_type = res.header("content-type");
        m.media_type = m.media_type.substr(0, m.media_type.find(';'));
        if (const std::string declared = string_member(m.parsed, "mediaType"); !declared.empty())
            m.media_type = declared;
        return m;
    }

    fs::path fetch_blob(const std::string & digest, int64_t size) {
        static const std::regex digest_re("sha256:[a-f0-9]{64}");
        DL_CHECK(std::regex_match(digest, digest_re), ExitCode::bad_input, "{}: unsupported blob digest '{}'",
                 ref_.str(), digest);
        const fs::path dir = cache_ / "blobs" / "sha256";
        const fs::path target = dir / digest.substr(7);
        std::error_code ec;
        if (fs::is_regular_file(target, ec) && static_cast<int64_t>(fs::file_size(target, ec)) == size) {
            session_.log(fmt::format("{} is in the cache", digest));
            if (o_.progress) o_.progress(digest, size, size);
            return target;
        }
        fs::create_directories(dir, ec);
        DL_CHECK(!ec, ExitCode::io, "{}: cannot create the cache: {}", dir.string(), ec.message());
        const fs::path partial =
            dir / fmt::format("{}.partial-{}-{}", digest.substr(7), getpid(), std::random_device{}());
        struct RemovePartial {
            const fs::path & p;
            ~RemovePartial() {
                std::error_code e;
                fs::remove(p, e);
            }
        } remove_partial{partial};
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        DL_CHECK(out, ExitCode::io, "{}: cannot write it", partial.string());
        int64_t have = 0;
        session_.on_download = [&](int64_t n) {
            have += n;
            if (o_.progress) o_.progress(digest, have, size);
        };
        struct ClearProgress {
            RegistrySession & s;
            ~ClearProgress() { s.on_download = nullptr; }
        } clear{session_};
        for (int failures = 0;;) {
            Request r{.method = "GET",
                      .url = session_.repo_url("/blobs/" + digest),
                      .sink = &out,
                      .follow_redirects = true};
            if (have > 0) r.headers.push_back(fmt::format("Range: bytes={}-", have));
            // Never more than the blob's size: from `have` on, or from 0 when the Range is ignored (200).
            r.sink_limit = size;
            const Response res = session_.send_once(r);
            out.flush();
            DL_CHECK(out, ExitCode::io, "{}: write failed (is the disk full?)", partial.string());
            have = static_cast<int64_t>(out.tellp());
            if (res.curl == CURLE_OK && (res.status == 200 || res.status == 206) && have >= size) break;
            if (!res.too_large.empty())
                session_.fail_misbehaving(fmt::format("it sent blob {} with {}", digest, res.too_large));
            if (res.status == 404)
                session_.fail_misbehaving(fmt::format("it lacks blob {} that {} lists", digest, ref_.str()));
            const bool short_body = res.curl == CURLE_OK && (res.status == 200 || res.status == 206);
            if (!short_body && !res.transient()) session_.fail_unexpected(res, r, "downloading " + digest);
            if (!session_.backoff(failures++, res, r)) session_.fail_unavailable(res, r);
            session_.warn(fmt::format("resuming the download of {} at byte {} of {}", digest, have, size));
        }
        out.close();
        const std::string got = file_sha256(partial);
        if (got != digest || have != size)
            session_.fail_misbehaving(
                fmt::format("blob {} arrived with {} bytes hashing to {}", digest, have, got));
        fs::rename(partial, target, ec);
        DL_CHECK(!ec, ExitCode::io, "{}: cannot write it: {}", target.string(), ec.message());
        return target;
    }

    const RegistryReference & ref_;
    const RegistryOptions & o_;
    fs::path cache_;
    RegistrySession session_;
};

}  // namespace

PulledImage pull_image(const RegistryReference & ref, const RegistryOptions & options, const fs::path & cache,
                       const std::string & platform) {
    static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    DL_ASSERT(curl_ready);
    try {
        return Puller(ref, options, cache).run(platform);
    } catch (const json::exception & e) {  // a member of the wrong type in the registry's manifest or config
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: not a valid image: {}", ref.str(), json_error_text(e)));
    }
}

fs::path cache_dir() {
    if (const char * xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "dlctl";
    if (const char * home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "dlctl";
    return fs::temp_directory_path() / "dlctl-cache";
}

PushResult push_image(const LocalImage & image, const RegistryReference & ref, const PushOptions & options) {
    static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    DL_ASSERT(curl_ready);
    return Pusher(image, ref, options).run();
}

}  // namespace dl::oci
