// `dlctl package --base IMAGE_REF`: a base image pulled from a registry, and the file system its layers make,
// so that dlctl's layers can be put on top of it without breaking it.
//   BaseImage base = load_base_image("127.0.0.1:5000/debian:12", registry_options, cache_dir(),
//   "linux/amd64"); base.resolve("lib/x86_64-linux-gnu/libz.so.1")  // "usr/lib/x86_64-linux-gnu/libz.so.1"
//   where lib -> usr/lib base.has("etc/passwd"), base.has_file_named("libcublas.so.13")
// And the layer readers `dlctl pull` shares: list_layer, extract_layer_directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "oci/registry_client.h"

namespace dl::oci {

struct BaseImage {
    PulledImage pulled;
    enum class Kind { file, directory, symlink };
    std::map<std::string, Kind> entries;          // every path the layers leave (no leading slash)
    std::map<std::string, std::string> symlinks;  // path -> target, as written in the layer
    std::set<std::string> file_names;             // last components of files and symlinks

    bool has(const std::string & path) const { return entries.count(path) > 0; }
    bool has_file_named(const std::string & name) const { return file_names.count(name) > 0; }
    // `path` with the base's symlinked directories followed, so that a file added there lands in the real
    // directory instead of replacing the symlink (a usr-merged base's lib -> usr/lib).
    std::string resolve(const std::string & path) const;
};

// Pulls `reference` (REGISTRY/REPOSITORY:TAG or @sha256:...) and reads its layers' file lists, whiteouts
// applied.
BaseImage load_base_image(const std::string & reference, const RegistryOptions & options,
                          const std::filesystem::path & cache, const std::string & platform);

// One layer's entries (its own whiteouts left out), listed with the checks and bounds of a base's layers.
std::map<std::string, BaseImage::Kind> list_layer(const PulledLayer & layer);

// Unpacks the regular files and directories below `dir` (a directory inside the layer, e.g.
// "models/housing/1") into the existing directory `dest`, and nothing else (Note [extracted layers] in
// base_image.cpp): a link, device, FIFO or whiteout there is Error(bad_input) naming the layer and the entry.
struct ExtractedFiles {
    int64_t files = 0, bytes = 0;
};
ExtractedFiles extract_layer_directory(const PulledLayer & layer, const std::string & dir,
                                       const std::filesystem::path & dest);

// A layer media type as it goes into an OCI manifest: Docker's gzip'd layer is the same bytes as OCI's.
std::string oci_layer_media_type(const std::string & media_type);

}  // namespace dl::oci
