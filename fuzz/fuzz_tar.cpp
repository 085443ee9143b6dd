// tar: the tar readers of `package --base` and `push`:
//   byte 0 bit 0 clear: the input is a base image's layers (one, or two with bit 1: bytes 1-2 are the first
//     one's length), served by the scripted registry of fake_registry.h behind a fixed manifest and config
//     and read by load_base_image (libarchive, any compression; whiteouts, opaque directories, symlinks),
//     then every path it left resolved through the base's symlinks as `package --base` resolves library
//     paths;
//   bit 0 set: the input is a docker-archive tarball given to `dlctl push` (read_local_image), which unpacks
//   it
//     into a scratch folder: every blob it hands on must lie inside that folder.
#include "core/hash.h"
#include "fake_registry.h"
#include "harness.h"
#include "oci/base_image.h"

namespace {

namespace fs = std::filesystem;
namespace oci = dl::oci;

void base_image(std::string_view layers_bytes, bool two) {
    std::vector<std::string> layers;
    if (two && layers_bytes.size() >= 2) {
        const size_t want = static_cast<unsigned char>(layers_bytes[0]) |
                            (static_cast<size_t>(static_cast<unsigned char>(layers_bytes[1])) << 8);
        const std::string_view rest = layers_bytes.substr(2);
        layers.emplace_back(rest.substr(0, std::min(want, rest.size())));
        layers.emplace_back(rest.substr(std::min(want, rest.size())));
    } else {
        layers.emplace_back(layers_bytes);
    }
    std::string descriptors, diff_ids;
    for (const std::string & l : layers) {
        descriptors += fmt::format(
            R"({}{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{}","size":{}}})",
            descriptors.empty() ? "" : ",", dl::sha256_hex(l), l.size());
        diff_ids += fmt::format(R"({}"sha256:{}")", diff_ids.empty() ? "" : ",", dl::sha256_hex(l));
    }
    const std::string config = fmt::format(
        R"({{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/usr/bin"]}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}})",
        diff_ids);
    const std::string manifest = fmt::format(
        R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":{}}},"layers":[{}]}})",
        dl::sha256_hex(config), config.size(), descriptors);
    std::vector<dlctl_fuzz::FakeAnswer> answers = {
        {.status = 200, .headers = "", .body = "{}"},  // GET /v2/
        {.status = 200,
         .headers = "Content-Type: application/vnd.oci.image.manifest.v1+json\n",
         .body = manifest},
        {.status = 200, .headers = "", .body = config}};
    for (std::string & l : layers) answers.push_back({.status = 200, .headers = "", .body = std::move(l)});
    dlctl_fuzz::fake_registry_play(std::move(answers));

    oci::RegistryOptions o;
    o.insecure = true;
    o.retries = 0;
    o.backoff_base_ms = 0;
    const fs::path cache = dlctl_fuzz::scratch_dir() / "cache";
    std::error_code ec;
    fs::remove_all(cache, ec);
    const oci::BaseImage base = oci::load_base_image(
        fmt::format("127.0.0.1:{}/fuzz/base:1", dlctl_fuzz::fake_registry_port()), o, cache, "linux/amd64");
    int n = 0;
    for (const auto & [path, kind] : base.entries) {
        if (++n > 256) break;
        base.resolve(path + "/libz.so.1");
    }
}

void docker_archive(std::string_view tarball) {
    const std::string path = dlctl_fuzz::scratch_file("image.tar", tarball);
    const oci::LocalImage image = oci::read_local_image(path, "latest");
    const fs::path inside = fs::weakly_canonical(image.scratch_dir);
    for (const oci::LocalBlob & b : image.blobs) {
        const fs::path blob = fs::weakly_canonical(b.path);
        const auto [end, unused] = std::mismatch(inside.begin(), inside.end(), blob.begin(), blob.end());
        if (end != inside.end())
            dlctl_fuzz::finding(
                "tar", fmt::format("docker-archive blob {} lies outside its scratch folder {}", blob.string(),
                                   inside.string()));
    }
}

}  // namespace

DLCTL_FUZZ_TARGET(tar) {
    if (input.empty()) return;
    dlctl_fuzz::isolate_network();
    if (input[0] & 1)
        docker_archive(input.substr(1));
    else
        base_image(input.substr(1), (input[0] & 2) != 0);
}
