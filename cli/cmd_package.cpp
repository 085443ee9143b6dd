// `dlctl package`: an exported model version as an OCI image (engine/deploy/oci/image_layout.h); the serving
// binary packaged into it is dlctl-serve, found beside this executable.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "commands.h"
#include "core/error.h"
#include "deploy/oci/image_layout.h"
#include "report.h"

namespace dlctl {

namespace {

struct PackageCliOptions {
    dl::oci::ImageOptions image;
    std::string format = "oci";
    std::vector<std::string> labels;
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
    const dl::oci::ImageResult r = dl::oci::write_image(o.image);
    if (o.json) {
        nlohmann::ordered_json j;
        j["path"] = r.path;
        j["tag"] = r.reference;
        j["digest"] = r.digest;
        j["size"] = r.size;
        j["layers"] = nlohmann::ordered_json::array();
        for (const dl::oci::Descriptor & d : r.layers)
            j["layers"].push_back({{"digest", d.digest}, {"size", d.size}, {"media_type", d.media_type}});
        print_json(j);
    } else {
        fmt::print("packaged {} into {}\n", r.reference, r.path);
        fmt::print("digest {}\n", r.digest);
        fmt::print("size {} compressed (runtime layer {}, model layer {})\n", human_size(r.size),
                   human_size(r.layers.at(0).size), human_size(r.layers.at(1).size));
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
    sub->add_flag("--json", o->json,
                  "print {\"path\", \"tag\", \"digest\", \"size\", \"layers\": [{\"digest\", \"size\", "
                  "\"media_type\"}]} on stdout");
    sub->callback([o] { run_package(*o); });
}

}  // namespace dlctl
