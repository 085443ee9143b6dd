#include "oci/registry_documents.h"

#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_limits.h"

namespace dl::oci::registry {

namespace fs = std::filesystem;

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

json parse_json(const std::string & text, const std::string & what) {
    return parse_json_bounded(text, what, {.max_bytes = kMaxDocumentBytes});
}

std::string string_member(const json & j, const char * key) {
    if (!j.is_object()) return "";
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

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

}  // namespace dl::oci::registry
