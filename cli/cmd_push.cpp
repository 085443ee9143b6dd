// `dlctl push`: the options, the password from stdin, packaging a model version first when IMAGE is one,
// per-layer progress on a terminal, and the result.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <random>

#include "commands.h"
#include "core/error.h"
#include "deploy/oci/image_layout.h"
#include "deploy/oci/registry_client.h"
#include "report.h"

namespace dlctl {

namespace {

struct PushCliOptions {
    std::string image, reference, username, from;
    bool password_stdin = false, insecure = false, verbose = false, json = false;
    int retries = 5;
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
    if (o.password_stdin && o.username.empty())
        throw dl::Error(dl::ExitCode::usage, "--password-stdin needs --username");
    const dl::oci::RegistryReference ref = dl::oci::parse_registry_reference(o.reference);
    dl::oci::PushOptions p{.insecure = o.insecure,
                           .username = o.username,
                           .mount_from = o.from,
                           .retries = o.retries,
                           .chunk_size = o.chunk_size};
    if (o.password_stdin) {
        std::getline(std::cin, p.password);
        if (!p.password.empty() && p.password.back() == '\r') p.password.pop_back();
    } else if (!o.username.empty()) {
        throw dl::Error(dl::ExitCode::usage,
                        "--username needs --password-stdin (a password is never an argument)");
    }
    if (o.verbose) p.log = [](const std::string & line) { fmt::print(stderr, "dlctl: {}\n", line); };
    if (stderr_is_tty() && !o.verbose) {
        // Redrawn only when the percentage changes: curl reads a large blob in thousands of pieces.
        p.progress = [last = std::string(), last_percent = -1](const std::string & digest, int64_t done,
                                                               int64_t total) mutable {
            const int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
            if (digest == last && percent == last_percent) return;
            last = digest;
            last_percent = percent;
            fmt::print(stderr, "\r  {:.19} {:3d}% {:.1f}/{:.1f} MB", digest, percent, done / 1e6,
                       total / 1e6);
            if (done >= total) fmt::print(stderr, "\n");
        };
    }
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
    sub->add_flag("--insecure", o->insecure, "plain HTTP, and no TLS certificate verification");
    sub->add_option("--username", o->username,
                    "registry user (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)");
    sub->add_flag("--password-stdin", o->password_stdin, "read the password (first line) from stdin");
    sub->add_option("--from", o->from, "a repository on the same registry to mount blobs from");
    sub->add_option("--retries", o->retries,
                    "retries on connection errors, 5xx and 429, with exponential backoff")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    sub->add_option("--chunk-size", o->chunk_size,
                    "blobs larger than this many bytes go up in chunks this size")
        ->check(CLI::Range(int64_t{1} << 10, int64_t{1} << 30))
        ->capture_default_str()
        ->group("");  // hidden: for tests and slow links
    sub->add_flag("-v,--verbose", o->verbose, "log each request (method, URL, status); never a credential");
    sub->add_flag("--json", o->json, "print {reference, digest, pushed, skipped} as JSON on stdout");
    sub->callback([o] { run_push(*o); });
}

}  // namespace dlctl
