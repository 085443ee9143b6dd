// `dlctl push`: the options, the password from stdin, packaging a model version first when IMAGE is one,
// per-layer progress on a terminal, and the result.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "commands.h"
#include "core/error.h"
#include "export/export.h"
#include "io/runs.h"
#include "oci/image_layout.h"
#include "oci/registry_client.h"
#include "registry_options.h"
#include "report.h"

namespace dlctl {

namespace {

struct PushCliOptions {
    std::string image, reference, from, runs;
    RegistryCliOptions registry;
    bool json = false;
    int64_t chunk_size = 8 << 20;
};

namespace fs = std::filesystem;

// IMAGE that is not an image is packaged into a temporary layout first (`dlctl package`, and `dlctl export`
// before it for a MODEL, then `dlctl push`, in one step); the scratch directory is removed afterwards.
struct PackagedModel {
    fs::path dir;
    ~PackagedModel() {
        std::error_code ec;
        if (!dir.empty()) fs::remove_all(dir, ec);
    }
};

// A directory that is not an OCI layout is an export version directory; a path that does not exist is a MODEL
// (a run directory is a directory too, but holds no signature.json) exported first.
fs::path package_model(const std::string & image, const std::string & runs,
                       const dl::oci::RegistryReference & ref, PackagedModel & scratch) {
    scratch.dir =
        fs::temp_directory_path() / fmt::format("dlctl-push-{}-{}", getpid(), std::random_device{}());
    fs::create_directories(scratch.dir);
    std::string version_dir = image;
    if (!fs::exists(fs::path(image) / "signature.json")) {
        const dl::ExportResult e =
            dl::export_model(image, dl::runs_root(runs), (scratch.dir / "export").string(), {});
        note(fmt::format("exported {}@{} to package it", e.name, e.version));
        version_dir = e.path;
    }
    const std::string name = ref.repository.substr(ref.repository.rfind('/') + 1);
    dl::oci::ImageOptions options{.version_dir = version_dir,
                                  .reference = name + ":" + (ref.tag.empty() ? "latest" : ref.tag),
                                  .out = (scratch.dir / "image").string(),
                                  .runtime_binary = dl::oci::default_serving_binary()};
    return dl::oci::write_image(options).path;
}

void run_push(const PushCliOptions & o) {
    const dl::oci::RegistryReference ref = dl::oci::parse_registry_reference(o.reference);
    dl::oci::PushOptions p;
    fill_registry_options(o.registry, p);
    p.mount_from = o.from;
    p.chunk_size = o.chunk_size;
    PackagedModel packaged;
    fs::path image_path = o.image;
    const bool is_image = fs::exists(image_path / "index.json") || fs::is_regular_file(image_path);
    const bool is_model = o.image.find('@') != std::string::npos && !fs::exists(image_path);
    if (!is_image && !is_model) {
        DL_CHECK(fs::exists(image_path), dl::ExitCode::missing_input,
                 "{}: no such image, export directory or run directory", o.image);
        DL_CHECK(
            fs::exists(image_path / "signature.json") || fs::exists(image_path / "model.h5"),
            dl::ExitCode::bad_input,
            "{}: not an OCI image layout, an export version directory (signature.json) or a run directory "
            "(model.h5)",
            o.image);
    }
    if (!is_image) image_path = package_model(o.image, o.runs, ref, packaged);
    const dl::oci::LocalImage image = dl::oci::read_local_image(image_path, ref.tag);
    const dl::oci::PushResult r = dl::oci::push_image(image, ref, p);
    if (o.json) {
        nlohmann::ordered_json j;
        j["reference"] = r.reference;
        j["digest"] = r.digest;
        j["pushed"] = r.pushed;
        j["mounted"] = r.mounted;
        j["skipped"] = r.skipped;
        print_json(j);
    } else {
        const bool has_digest = r.reference.find('@') != std::string::npos;
        fmt::print("pushed {}{} ({} blobs pushed, {}{} skipped)\n", r.reference,
                   has_digest ? "" : "@" + r.digest, r.pushed.size(),
                   r.mounted.empty() ? "" : fmt::format("{} mounted, ", r.mounted.size()), r.skipped.size());
    }
}

}  // namespace

void setup_push(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<PushCliOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option(
           "image", o->image,
           "an OCI image layout directory, a docker-archive tarball, an export version directory "
           "DIR/<name>/<version> to package first, or a MODEL (run directory, NAME@VERSION, NAME@latest) "
           "to export and package first")
        ->required();
    sub->add_option("reference", o->reference,
                    "REGISTRY/REPOSITORY:TAG, e.g. localhost:5000/models/housing:1")
        ->required();
    add_registry_options(sub, o->registry);
    sub->add_option("--runs", o->runs,
                    "root folder of versioned runs, for a MODEL (default: $DLCTL_RUNS, else ./runs)");
    sub->add_option("--from", o->from, "a repository on the same registry to mount blobs from");
    sub->add_option("--chunk-size", o->chunk_size,
                    "blobs larger than this many bytes go up in chunks this size")
        ->check(CLI::Range(int64_t{1} << 10, int64_t{1} << 30))
        ->capture_default_str()
        ->group("");  // hidden: for tests and slow links
    sub->add_flag("--json", o->json, "print {reference, digest, pushed, mounted, skipped} as JSON on stdout");
    sub->callback([o] { run_push(*o); });
}

}  // namespace dlctl
