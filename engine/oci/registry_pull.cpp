// Pulling an image from a registry for its platform (the base image of `dlctl package --base`), each blob
// verified into the cache (pull_image and cache_dir in registry_client.h).
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_limits.h"
#include "oci/registry_client.h"
#include "oci/registry_documents.h"
#include "oci/registry_session.h"

namespace dl::oci {

namespace fs = std::filesystem;
using namespace registry;

namespace {

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
        // Bytes that are not what their digest names are corrupt input (65), as a file would be; a registry
        // whose own header disagrees with what it sends misbehaves (69).
        DL_CHECK(expected_digest.empty() || expected_digest == m.digest, ExitCode::bad_input,
                 "{}: the registry sent a manifest hashing to {}, not {:.80}: refused", ref_.str(), m.digest,
                 expected_digest);
        const std::string reported = res.header("docker-content-digest");
        if (expected_digest.empty() && !reported.empty() && reported != m.digest)
            session_.fail_misbehaving(
                fmt::format("the manifest of {} hashes to {}, not {:.80}", ref_.str(), m.digest, reported));
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
        DL_CHECK(got == digest && have == size, ExitCode::bad_input,
                 "{}: blob {} arrived with {} bytes hashing to {}: refused", ref_.str(), digest, have, got);
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

}  // namespace dl::oci
