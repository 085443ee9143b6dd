// Pushing an image to a registry, and pulling one, over the OCI distribution API (libcurl, one connection
// reused).
//
//   RegistryReference ref = parse_registry_reference("127.0.0.1:5000/models/housing:1");
//   LocalImage image = read_local_image("out/housing-1", ref.tag);  // an OCI layout or a docker-archive
//   PushOptions opts;
//   opts.insecure = true;
//   PushResult r = push_image(image, ref, opts);  // r.digest, r.pushed, r.skipped
//
//   PulledImage base = pull_image(parse_registry_reference("127.0.0.1:5000/debian:12"), opts, cache_dir());
//
// Errors: an invalid reference or image is ExitCode::bad_input (65), an unreadable image missing_input (66),
// rejected credentials denied (77), a registry still unreachable after the retries, or one answering what the
// distribution API does not allow (a wrong digest, garbage, an endless body), unavailable (69); a pulled manifest
// or blob whose bytes are not the digest it was asked by is bad_input (65), as a corrupt file is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace dl::oci {

// REGISTRY/REPOSITORY[:TAG][@sha256:HEX]; the tag defaults to "latest" when neither tag nor digest is given.
struct RegistryReference {
    std::string registry;  // host[:port], as written
    std::string repository;
    std::string tag;
    std::string digest;  // "sha256:..." or empty
    std::string str() const;
};
RegistryReference parse_registry_reference(std::string_view text);

struct LocalBlob {
    std::string digest;  // "sha256:<hex>"
    int64_t size = 0;
    std::filesystem::path path;  // the blob's bytes on disk
};

// An image ready to push: the manifest exactly as it will be PUT, and the blobs it refers to (config first).
struct LocalImage {
    std::string manifest;
    std::string manifest_media_type;
    std::string manifest_digest;  // sha256 of `manifest`
    std::vector<LocalBlob> blobs;
    std::filesystem::path scratch_dir;  // removed on destruction when set (a docker-archive unpacked here)

    LocalImage() = default;
    LocalImage(LocalImage &&) noexcept;
    LocalImage & operator=(LocalImage &&) = delete;
    ~LocalImage();
};

// An OCI image layout directory (the manifest whose org.opencontainers.image.ref.name equals `tag`, else the
// only one) or a docker-archive tarball (converted to an OCI manifest with gzip-compressed layers).
LocalImage read_local_image(const std::filesystem::path & path, const std::string & tag);

// How to reach a registry: the same for pushing and pulling.
struct RegistryOptions {
    bool insecure = false;  // plain HTTP and no TLS verification
    std::string username,
        password;     // empty: from $DOCKER_CONFIG/config.json or ~/.docker/config.json, else none
    int retries = 5;  // per request or upload, on connection errors, 5xx and 429
    // Note [bounded time] in registry_session.cpp: a request without a blob must be answered within this, a
    // blob transfer must not stall (under 1 KiB/s) for twice this, and a request's retries stop once it has
    // been failing for this long.
    int timeout_s = 30;
    int backoff_base_ms = 200;
    std::function<void(const std::string &)> log;  // -v: one line per request, never a credential
    // Retries and resumptions, which a user should hear of without -v (else they go to `log`).
    std::function<void(const std::string &)> warn;
    // Bytes of the blob being uploaded or downloaded so far.
    std::function<void(const std::string & digest, int64_t done, int64_t total)> progress;
};

struct PushOptions : RegistryOptions {
    std::string mount_from;        // a repository on the same registry to mount blobs from
    int64_t chunk_size = 8 << 20;  // blobs larger than this go up in PATCH chunks of this size
};

struct PushResult {
    std::string reference;
    std::string digest;                // the manifest's, as the registry confirmed it
    std::vector<std::string> pushed;   // blobs uploaded
    std::vector<std::string> mounted;  // blobs mounted from --from's repository (nothing uploaded)
    std::vector<std::string> skipped;  // blobs the repository already had
};

PushResult push_image(const LocalImage & image, const RegistryReference & ref, const PushOptions & options);

// An image pulled for its platform: the manifest and config as parsed JSON, and each layer's blob in the
// cache.
struct PulledLayer {
    std::string media_type;  // as the registry's manifest names it (Docker's or OCI's)
    std::string digest;
    int64_t size = 0;
    std::filesystem::path path;  // the verified blob in the cache
};
struct PulledImage {
    std::string reference;        // as asked for, REGISTRY/REPOSITORY:TAG or @DIGEST
    std::string manifest_digest;  // of the platform's image manifest (not of an index above it)
    nlohmann::json manifest, config;
    std::vector<PulledLayer> layers;
};

// GETs the manifest (an index or Docker manifest list is resolved to `platform`'s entry, "linux/amd64"), the
// config and every layer the cache lacks. Blobs are checked against their digests and kept in
// `cache_dir`/blobs/sha256/, so a base is downloaded once; an interrupted download resumes with a Range
// request. Errors as for push_image; an image that is not there is ExitCode::missing_input (66).
PulledImage pull_image(const RegistryReference & ref, const RegistryOptions & options,
                       const std::filesystem::path & cache_dir, const std::string & platform = "linux/amd64");

// $XDG_CACHE_HOME/dlctl, else ~/.cache/dlctl.
std::filesystem::path cache_dir();

}  // namespace dl::oci
