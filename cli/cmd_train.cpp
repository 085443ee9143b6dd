#include <fmt/format.h>

#include "commands.h"
#include "report.h"

namespace dlctl {

namespace {

struct TrainCliOptions {
    dl::TrainOptions train;
    uint64_t seed = 0;
    bool json = false, quiet = false;
};

void run_train(TrainCliOptions & o, bool seed_given) {
    if (seed_given) o.train.seed = o.seed;
    ProgressPrinter progress(stderr_is_tty() && !o.quiet && !o.json);
    const dl::TrainResult r = dl::train(o.train, progress);
    if (o.json) {
        nlohmann::ordered_json j;
        j["name"] = r.name;
        j["version"] = r.version;
        j["run_dir"] = r.run_dir;
        j["checkpoint"] = r.checkpoint;
        j["epochs"] = r.epochs;
        j["seconds"] = r.seconds;
        j["metrics"] = r.metrics;
        print_json(j);
        return;
    }
    if (r.already_done) return;
    fmt::print("\n{:<16} {}\n", "metric", "value");
    for (auto & [k, v] : r.metrics.items()) fmt::print("{:<16} {}\n", k, format_value(v.get<double>()));
    fmt::print("\nsaved {}@{} in {} ({} epochs, {:.2f} s)\n", r.name, r.version, r.run_dir, r.epochs,
               r.seconds);
}

}  // namespace

void setup_train(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<TrainCliOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("spec", o->train.spec_path, "the model's YAML spec")->required();
    sub->add_option("--set", o->train.overrides,
                    "override a spec field: KEY=VALUE (dotted path, YAML value); repeatable");
    sub->add_option("--runs", o->train.runs_flag,
                    "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
    auto * seed = sub->add_option("--seed", o->seed, "override the spec's seed");
    sub->add_option("--threads", o->train.threads, "CPU threads (default: all cores)")
        ->check(CLI::Range(1, 1024));
    sub->add_option(
        "--device", o->train.device,
        "cpu, cuda, cuda:N, or auto (the GPU when there is one); default: the spec's `device`, else cpu");
    sub->add_flag("--resume", o->train.resume, "continue the newest unfinished version of this spec's name");
    sub->add_flag("--json", o->json, "print one JSON object with the result on stdout");
    sub->add_flag("--quiet", o->quiet, "plain progress lines, no animation");
    sub->callback([o, seed] { run_train(*o, seed->count() > 0); });
}

}  // namespace dlctl
