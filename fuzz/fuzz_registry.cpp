// registry: what a registry answers -> dlctl's registry client (oci/registry_client.*), through the
// scripted registry of fake_registry.h: the ping and its auth challenge (WWW-Authenticate parsing, the token
// server's JSON), manifests and indexes (platform choice, descriptors), configs, blob digests and sizes,
// Location headers of uploads, Docker-Content-Digest, Retry-After.
//   byte 0: bit 0 push a small image (push_image) rather than pull one (pull_image); the rest is the script
//   (fake_registry.h), where a push's script may write @M@ for the digest of the manifest pushed.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/hash.h"
#include "fake_registry.h"
#include "harness.h"
#include "oci/registry_client.h"
#include "oci/tar_layer.h"

namespace {

namespace fs = std::filesystem;
namespace oci = dl::oci;

oci::RegistryOptions options() {
    oci::RegistryOptions o;
    o.insecure = true;
    o.retries = 1;
    o.backoff_base_ms = 0;
    // Waits the client bounds by --timeout (a Retry-After, a stalled body) are by design; 2 s keeps them
    // under the fuzzer's -timeout, so that what it reports as a timeout is a wait nothing bounds.
    o.timeout_s = 2;
    if (std::getenv("FUZZ_VERBOSE"))  // replaying one input: the requests and answers, as -v prints them
        o.log =
            o.warn = [](const std::string & line) { std::fprintf(stderr, "registry: %s\n", line.c_str()); };
    return o;
}

// A config and one layer, as `dlctl package` would leave them, described by an OCI manifest.
oci::LocalImage small_image() {
    const fs::path dir = dlctl_fuzz::scratch_dir() / "image";
    static const std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}})";
    // Bytes gzip cannot shrink, so that the layer (about 1.5 KB) goes up in three PATCH chunks.
    static const std::string layer = [] {
        std::string bytes(1500, '\0');
        uint32_t x = 1;
        for (char & c : bytes) c = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
        return oci::gzip_bytes(bytes);
    }();
    oci::LocalImage image;
    fs::create_directories(dir);
    auto blob = [&](const std::string & bytes) {
        oci::LocalBlob b{.digest = "sha256:" + dl::sha256_hex(bytes),
                         .size = static_cast<int64_t>(bytes.size()),
                         .path = dir / dl::sha256_hex(bytes)};
        if (!fs::exists(b.path)) dlctl_fuzz::scratch_file("image/" + dl::sha256_hex(bytes), bytes);
        return b;
    };
    image.blobs = {blob(config), blob(layer)};
    image.manifest = fmt::format(
        R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
        R"("config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},)"
        R"("layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}})",
        image.blobs[0].digest, image.blobs[0].size, image.blobs[1].digest, image.blobs[1].size);
    image.manifest_media_type = "application/vnd.oci.image.manifest.v1+json";
    image.manifest_digest = "sha256:" + dl::sha256_hex(image.manifest);
    return image;
}

}  // namespace

DLCTL_FUZZ_TARGET(registry) {
    if (input.empty()) return;
    dlctl_fuzz::isolate_network();
    const int port = dlctl_fuzz::fake_registry_port();
    const oci::RegistryReference ref =
        oci::parse_registry_reference(fmt::format("127.0.0.1:{}/fuzz/base:1", port));
    if (input[0] & 1) {
        // @M@: the pushed manifest's digest, for the answers that confirm it (Docker-Content-Digest).
        std::string script(input.substr(1));
        for (size_t at = script.find("@M@"); at != std::string::npos; at = script.find("@M@", at))
            script.replace(at, 3, small_image().manifest_digest);
        dlctl_fuzz::fake_registry_play(script);
        oci::PushOptions o;
        static_cast<oci::RegistryOptions &>(o) = options();
        o.chunk_size = 512;  // the layer goes up in chunks: PATCH answers and their Locations too
        const oci::LocalImage image = small_image();
        const oci::PushResult r = oci::push_image(image, ref, o);
        // A push that succeeds says the registry holds this manifest: it reports the manifest's digest.
        if (r.digest != image.manifest_digest)
            dlctl_fuzz::finding("registry", fmt::format("push succeeded with digest {}, the manifest's is {}",
                                                        r.digest, image.manifest_digest));
    } else {
        dlctl_fuzz::fake_registry_play(input.substr(1));
        const fs::path cache = dlctl_fuzz::scratch_dir() / "cache";
        std::error_code ec;
        fs::remove_all(cache, ec);  // every run pulls from scratch: the same input, the same requests
        const oci::PulledImage image = oci::pull_image(ref, options(), cache);
        // What a pull hands on is what its manifest names: every layer's bytes hash to its digest.
        for (const oci::PulledLayer & layer : image.layers) {
            std::ifstream in(layer.path, std::ios::binary);
            const std::string bytes{std::istreambuf_iterator<char>(in), {}};
            if ("sha256:" + dl::sha256_hex(bytes) != layer.digest ||
                static_cast<int64_t>(bytes.size()) != layer.size)
                dlctl_fuzz::finding(
                    "registry", fmt::format("pulled layer {} ({} bytes) holds {} bytes hashing to sha256:{}",
                                            layer.digest, layer.size, bytes.size(), dl::sha256_hex(bytes)));
        }
    }
}
