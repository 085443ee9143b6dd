// `dlctl pull`: the model of an image `dlctl package` made, fetched from a registry into a served directory as
// a new version, so that a serving machine follows a registry (`dlctl serve` picks the version up as it does an
// export).
//   ModelPullOptions o{.reference = "127.0.0.1:5000/models/housing:1", .out = "export"};
//   ModelPullResult r = pull_model(o);  // r.path "export/housing/1" (absolute), r.digest, r.unchanged
// The version directory is built under a dot-prefixed name beside it (Note [version directories under
// construction] in core/fs.h), its model loaded to check it, then renamed into place; nothing is left behind on
// failure. OUT/<name>/labels.json is never written: the serving machine owns its labels.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "oci/registry_client.h"

namespace dl::oci {

struct ModelPullOptions {
    std::string reference;  // REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:HEX
    std::string out = "export";
    int64_t version = 0;  // the version number to place it under; 0: the image's
    RegistryOptions registry;
    std::filesystem::path cache;  // where pulled blobs are kept; empty: cache_dir()
};

struct ModelPullResult {
    std::string reference;  // as asked for
    std::string digest;     // of the image's manifest
    std::string name;
    int64_t version = 0;        // where it was placed
    int64_t image_version = 0;  // the version the image holds
    std::string path;           // absolute: OUT/<name>/<version>
    bool unchanged = false;     // the version was already there with the same files
};

// Errors: those of pull_image (a manifest or layer whose bytes do not match its digest is ExitCode::bad_input);
// an image without a dlctl model layer, a layer with anything but files and directories below
// models/<name>/<version>/, or a model that does not load: bad_input (65); OUT/<name>/<version> already there
// with other files: usage (2), with the highest version there named so that another --version can be chosen.
ModelPullResult pull_model(const ModelPullOptions & options);

}  // namespace dl::oci
