// `dlctl package`: an OCI image of one exported model version, built without a container engine.
//   ImageOptions o{.version_dir = "export/housing/1", .reference = "housing:1",
//                  .runtime_binary = "build/dlctl-serve"};
//   ImageResult r = write_image(o);   // r.path ("housing-1.oci"), r.digest (the manifest's), r.layers
// Two layers: the runtime (the lean serving binary at /usr/local/bin/dlctl and exactly its shared-library
// closure, the same for every model, so a new model version adds one small layer) and the model
// (/models/<name>/<version>/ and /models/<name>/labels.json). The result is an OCI image layout directory
// (`oci:PATH:TAG` for skopeo, umoci and podman) or a docker-archive tarball (`docker load`, `podman load`).
// Blobs are reproducible (Note [reproducible layers] in tar_layer.cpp): the same inputs give the same digest.
// With a base image (Note [base images] in image_layout.cpp) its layers come first and its config is kept
// where it makes sense; the --gpu variant adds a layer with the CUDA plugin and the libraries the base lacks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "oci/registry_client.h"

namespace dl::oci {

inline constexpr const char * kManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char * kConfigMediaType = "application/vnd.oci.image.config.v1+json";
inline constexpr const char * kLayerMediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char * kIndexMediaType = "application/vnd.oci.image.index.v1+json";

enum class ImageFormat { oci, docker_archive };

struct ImageOptions {
    std::string version_dir;  // an export version directory DIR/<name>/<version>/
    std::string reference;    // NAME:TAG
    std::string out;          // empty: "<name>-<version>.oci" (".tar" for docker-archive) in the cwd
    ImageFormat format = ImageFormat::oci;
    std::vector<std::pair<std::string, std::string>> labels;  // extra config labels; they win
    std::string platform = "linux/amd64";
    std::string runtime_binary;  // the lean serving executable packaged as /usr/local/bin/dlctl
    // Also write DIR/Dockerfile (FROM scratch) and its build context DIR/runtime/, DIR/model/ with the same
    // files and settings, for people who build with Docker.
    std::string dockerfile_dir;
    // A base image in a registry, REGISTRY/REPOSITORY:TAG or @sha256:...; empty or "scratch" for none.
    std::string base;
    RegistryOptions registry;     // how to reach the base's registry
    std::filesystem::path cache;  // where pulled blobs are kept; empty: cache_dir()
    // The GPU variant: the CUDA plugin (libdlctl_cuda.so beside runtime_binary) and the libraries of its
    // closure that the base lacks, in a layer of their own. Needs a base (a CUDA image).
    bool gpu = false;
};

struct Descriptor {
    std::string media_type;
    std::string digest;  // "sha256:<hex>"
    int64_t size = 0;
};

struct ImageResult {
    std::string path;  // absolute
    std::string reference, tag;
    std::string digest;  // the manifest's: what a registry reports after a push
    int64_t size = 0;    // manifest + config + compressed layers
    std::vector<Descriptor> layers;
    std::vector<std::string> layer_roles;  // "base", "runtime", "cuda" or "model", one per layer
    Descriptor config;
    std::string base_reference, base_digest;  // empty without a base
};

struct ImageReference {
    std::string name;  // [registry[:port]/]path, lower case
    std::string tag;
};
// Error(usage) unless `ref` is NAME:TAG in the distribution spec's grammar.
ImageReference parse_image_reference(const std::string & ref);

// The shared libraries `binary` loads, as `ldd` resolves them (dynamic loader included, the vDSO left out).
// Error(bad_input) when one is not found.
std::vector<std::string> shared_library_closure(const std::string & binary);

ImageResult write_image(const ImageOptions & options);

// The lean serving binary packaged as the image's /usr/local/bin/dlctl: $DLCTL_SERVE_BINARY, else dlctl-serve
// beside the running executable (build/ or the install's bin/).
std::string default_serving_binary();

}  // namespace dl::oci
