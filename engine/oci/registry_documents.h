// The JSON documents and blobs of images as the registry client reads them: media types, the bounds of
// Note [registry answers], and the blobs a manifest lists. Internal to oci/ (local_image.cpp and
// registry_*.cpp).
//   const json manifest = parse_json(res.body, ref.str() + ": manifest");   // Error(bad_input) past the bounds
//   for (const auto & [digest, size] : manifest_blobs(manifest, ref.str())) ...   // the config first
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace dl::oci::registry {

using nlohmann::json;

inline constexpr const char * kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char * kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char * kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char * kIndexMediaType = "application/vnd.oci.image.index.v1+json";
inline constexpr const char * kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char * kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";

// Note [registry answers]: manifests, indexes, configs, tokens and error bodies are JSON from a registry or a
// file anyone may have written: each is at most kMaxDocumentBytes (the distribution spec's own manifest limit
// is 4 MiB) and parsed with the bounded parser (size and nesting checked before parsing).
inline constexpr size_t kMaxDocumentBytes = size_t{4} << 20;
inline constexpr int64_t kMaxImageBytes = int64_t{64} << 30;  // compressed layers of a pulled image

std::string read_file(const std::filesystem::path & path);    // Error(missing_input) when unreadable
std::string file_sha256(const std::filesystem::path & path);  // "sha256:<hex>"
json parse_json(const std::string & text, const std::string & what);

// A string member of a JSON object, or "" when it is absent or not a string (never nlohmann's type_error).
std::string string_member(const json & j, const char * key);

// Config and layers of a parsed manifest, in the order the manifest lists them.
std::vector<std::pair<std::string, int64_t>> manifest_blobs(const json & manifest, const std::string & what);

}  // namespace dl::oci::registry
