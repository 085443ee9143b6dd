// `dlctl push`: the options, the password from stdin, packaging a model version first when IMAGE is one,
// per-layer progress on a terminal, and the result.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "commands.h"
#include "core/error.h"
#include "deploy/oci/image_layout.h"
#include "deploy/oci/registry_client.h"
#include "registry_options.h"
#include "report.h"

namespace dlctl {

namespace {

struct PushCliOptions {
    std::string image, reference, from;
    RegistryCliOptions registry;
    bool json = false;
    int64_t chunk_size = 8 << 20;
};

namespace fs = std::filesystem;

// A directory that is not an OCI layout is taken for an export version directory and packaged into a
// temporary layout first (`dlctl package` then `dlctl push` in one step); the layout is removed afterwards.
struct PackagedModel {
    fs::path dir;
    ~PackagedModel() {
        std::error_code ec;
        if (!dir.empty()) fs::remove_all(dir, ec);
    }
};

fs::path package_model(const std::string & version_dir, const dl::oci::RegistryReference & ref,
                       PackagedModel & scratch) {
    scratch.dir =
        fs::temp_directory_path() / fmt::format("dlctl-push-{}-{}", getpid(), std::random_device{}());
    fs::create_directories(scratch.dir);
    const std::string name = ref.repository.substr(ref.repository.rfind('/') + 1);
    dl::oci::ImageOptions image{.version_dir = version_dir,
                                .reference = name + ":" + (ref.tag.empty() ? "latest" : ref.tag),
                                .out = (scratch.dir / "image").string(),
                                .runtime_binary = dl::oci::default_serving_binary()};
    return dl::oci::write_image(image).path;
}

void run_push(const PushCliOptions & o) {
    const dl::oci::RegistryReference ref = dl::oci::parse_registry_reference(o.reference);
    dl::oci::PushOptions p;
    fill_registry_options(o.registry, p);
    p.mount_from = o.from;
    p.chunk_size = o.chunk_size;
    PackagedModel packaged;
    fs::path image_path = o.image;
    if (fs::is_directory(image_path) && !fs::exists(image_path / "index.json"))
        image_path = package_model(o.image, ref, packaged);
    const dl::oci::LocalImage image = dl::oci::read_local_image(image_path, ref.tag);
    const dl::oci::PushResult r = dl::oci::push_image(image, ref, p);
    if (o.json) {
        nlohmann::ordered_json j;
        j["reference"] = r.reference;
        j["digest"] = r.digest;
        j["pushed"] = r.pushed;
        j["skipped"] = r.skipped;
        print_json(j);
    } else {
        const bool has_digest = r.reference.find('@') != std::string::npos;
        fmt::print("pushed {}{} ({} blobs pushed, {} skipped)\n", r.reference,
                   has_digest ? "" : "@" + r.digest, r.pushed.size(), r.skipped.size());
    }
}

}  // namespace

void setup_push(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<PushCliOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("image", o->image,
                    "an OCI image layout directory, a docker-archive tarball, or an export version directory "
                    "DIR/<name>/<version> to package first")
        ->required();
    sub->add_option("reference", o->reference,
                    "REGISTRY/REPOSITORY:TAG, e.g. localhost:5000/models/housing:1")
        ->required();
    add_registry_options(sub, o->registry);
    sub->add_option("--from", o->from, "a repository on the same registry to mount blobs from");
    sub->add_option("--chunk-size", o->chunk_size,
                    "blobs larger than this many bytes go up in chunks this size")
        ->check(CLI::Range(int64_t{1} << 10, int64_t{1} << 30))
        ->capture_default_str()
        ->group("");  // hidden: for tests and slow links
    sub->add_flag("--json", o->json, "print {reference, digest, pushed, skipped} as JSON on stdout");
    sub->callback([o] { run_push(*o); });
}

}  // namespace dlctl
