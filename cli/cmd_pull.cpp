// `dlctl pull`: a model image from a registry into a served directory, as a new version (oci/model_pull.h).
#include <fmt/format.h>

#include "commands.h"
#include "oci/model_pull.h"
#include "registry_options.h"
#include "report.h"

namespace dlctl {

namespace {

struct PullCliOptions {
    std::string reference, out = "export";
    int64_t version = 0;
    RegistryCliOptions registry;
    bool json = false;
};

void run_pull(const PullCliOptions & o) {
    dl::oci::ModelPullOptions p{.reference = o.reference, .out = o.out, .version = o.version};
    fill_registry_options(o.registry, p.registry);
    const dl::oci::ModelPullResult r = dl::oci::pull_model(p);
    if (o.json) {
        nlohmann::ordered_json j;
        j["reference"] = r.reference;
        j["digest"] = r.digest;
        j["name"] = r.name;
        j["version"] = r.version;
        j["path"] = r.path;
        j["unchanged"] = r.unchanged;
        print_json(j);
        return;
    }
    const bool has_digest = r.reference.find('@') != std::string::npos;
    const std::string image = has_digest ? r.reference : r.reference + "@" + r.digest;
    if (r.unchanged) {
        fmt::print("{} already holds {}; nothing to do\n", r.path, image);
        return;
    }
    fmt::print("pulled {} into {} ({} version {}{})\n", image, r.path, r.name, r.version,
               r.version == r.image_version ? "" : fmt::format(", version {} in the image", r.image_version));
}

}  // namespace

void setup_pull(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<PullCliOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option(
           "reference", o->reference,
           "REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST of an image `dlctl package` "
           "made, e.g. localhost:5000/models/housing:1")
        ->required();
    sub->add_option("--out", o->out, "served directory: the model lands in OUT/<name>/<version>/")
        ->capture_default_str();
    sub->add_option("--version", o->version,
                    "place it under this version number (default: the image's); for a version already there "
                    "with other files")
        ->check(CLI::Range(int64_t{1}, int64_t{999'999'999'999'999'999}));
    add_registry_options(sub, o->registry);
    sub->add_flag("--json", o->json,
                  "print {reference, digest, name, version, path, unchanged} as JSON on stdout");
    sub->callback([o] { run_pull(*o); });
}

}  // namespace dlctl
