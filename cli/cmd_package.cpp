// `dlctl package`: an exported model version as an OCI image (engine/oci/image_layout.h); the serving
// binary packaged into it is dlctl-serve, found beside this executable.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "commands.h"
#include "core/error.h"
#include "oci/image_layout.h"
#include "registry_options.h"
#include "report.h"

namespace dlctl {

namespace {

struct PackageCliOptions {
    dl::oci::ImageOptions image;
    std::string format = "oci";
    std::vector<std::string> labels;
    RegistryCliOptions registry;  // for --base
    bool json = false;
};

std::string human_size(int64_t bytes) {
    if (bytes >= 1024 * 1024)
        return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
}

void run_package(PackageCliOptions & o) {
    if (o.format == "oci") {
        o.image.format = dl::oci::ImageFormat::oci;
    } else if (o.format == "docker-archive") {
        o.image.format = dl::oci::ImageFormat::docker_archive;
    } else {
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("--format {}: want oci or docker-archive", o.format));
    }
    for (const std::string & kv : o.labels) {
        const size_t eq = kv.find('=');
        DL_CHECK(eq != std::string::npos && eq > 0, dl::ExitCode::usage, "--label {}: want KEY=VALUE", kv);
        o.image.labels.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    o.image.runtime_binary = dl::oci::default_serving_binary();
    fill_registry_options(o.registry, o.image.registry);
    const dl::oci::ImageResult r = dl::oci::write_image(o.image);
    if (o.json) {
        nlohmann::ordered_json j;
        j["path"] = r.path;
        j["tag"] = r.reference;
        j["digest"] = r.digest;
        j["size"] = r.size;
        if (!r.base_reference.empty())
            j["base"] = {{"reference", r.base_reference}, {"digest", r.base_digest}};
        j["layers"] = nlohmann::ordered_json::array();
        for (size_t i = 0; i < r.layers.size(); ++i) {
            const dl::oci::Descriptor & d = r.layers[i];
            j["layers"].push_back({{"digest", d.digest},
                                   {"size", d.size},
                                   {"media_type", d.media_type},
                                   {"role", r.layer_roles[i]}});
        }
        print_json(j);
    } else {
        fmt::print("packaged {} into {}\n", r.reference, r.path);
        fmt::print("digest {}\n", r.digest);
        // Sizes by role: the base's layers together, then each of dlctl's.
        std::vector<std::string> parts;
        int64_t base_size = 0;
        size_t base_layers = 0;
        for (size_t i = 0; i < r.layers.size(); ++i) {
            if (r.layer_roles[i] == "base") {
                base_size += r.layers[i].size;
                ++base_layers;
            } else {
                parts.push_back(fmt::format("{} layer {}", r.layer_roles[i], human_size(r.layers[i].size)));
            }
        }
        if (base_layers > 0)
            parts.insert(parts.begin(), fmt::format("base {}: {} layer{} {}", r.base_reference, base_layers,
                                                    base_layers == 1 ? "" : "s", human_size(base_size)));
        fmt::print("size {} compressed ({})\n", human_size(r.size), fmt::join(parts, ", "));
        if (!o.image.dockerfile_dir.empty())
            fmt::print("Dockerfile and build context in {}\n", o.image.dockerfile_dir);
    }
}

}  // namespace

void setup_package(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<PackageCliOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("version_dir", o->image.version_dir,
                    "an export version directory DIR/<name>/<version>, as `dlctl export --out DIR` writes it")
        ->required();
    sub->add_option("--tag", o->image.reference, "the image's NAME:TAG, e.g. housing:1")->required();
    sub->add_option("--out", o->image.out,
                    "where to write the image (default: <name>-<version>.oci, or .tar for docker-archive)");
    sub->add_option("--format", o->format,
                    "oci (an OCI image layout directory) or docker-archive (a tarball)")
        ->capture_default_str();
    sub->add_option("--label", o->labels, "an extra image label KEY=VALUE (repeatable; wins over dlctl's)");
    sub->add_option("--dockerfile", o->image.dockerfile_dir,
                    "also write DIR/Dockerfile (FROM scratch) and its build context, for docker build");
    sub->add_option("--platform", o->image.platform, "the image's platform (only this machine's)")
        ->capture_default_str();
    sub->add_option("--base", o->image.base,
                    "scratch (the default: dlctl's files alone) or a base image in a registry, "
                    "REGISTRY/REPOSITORY:TAG or @sha256:..., whose layers go under dlctl's");
    sub->add_flag(
        "--gpu", o->image.gpu,
        "the GPU variant: add the CUDA plugin and the libraries the base lacks (needs a CUDA --base)");
    add_registry_options(sub, o->registry);
    sub->add_flag("--json", o->json,
                  "print {\"path\", \"tag\", \"digest\", \"size\", \"layers\": [{\"digest\", \"size\", "
                  "\"media_type\"}]} on stdout");
    sub->callback([o] { run_package(*o); });
}

}  // namespace dlctl
