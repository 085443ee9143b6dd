#include <fmt/format.h>

#include "commands.h"
#include "model/model.h"
#include "model/session.h"
#include "passes/passes.h"

namespace dlctl {

namespace {

struct GraphOptions {
    std::string spec, after = "memory_plan", mode = "train";
    std::vector<std::string> overrides;
    int64_t batch = 0;
    bool dot = false;
};

void run_graph(const GraphOptions & o) {
    const dl::Spec spec = dl::load_spec(o.spec, o.overrides);
    const dl::DataInfo info = dl::prepare_data(spec).info;
    dl::ParamStore params;
    const dl::GraphMode mode = o.mode == "train" ? dl::GraphMode::train : dl::GraphMode::predict;
    dl::Graph g =
        dl::build_model_graph(spec, info, o.batch > 0 ? o.batch : spec.train.batch_size, mode, params);
    dl::run_passes(g, o.after == "memory_plan" ? std::string() : o.after);
    if (o.dot) {
        fmt::print("{}", g.dump_dot());
        return;
    }
    fmt::print("# {} graph of '{}' after {}\n{}", o.mode, spec.name, o.after, g.dump());
    const dl::MemoryPlan plan = dl::plan_memory(g);
    fmt::print("# {}", dl::describe(plan));
}

}  // namespace

void setup_graph(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<GraphOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("spec", o->spec, "the model's YAML spec")->required();
    sub->add_option("--set", o->overrides, "override a spec field: KEY=VALUE; repeatable");
    sub->add_flag("--dot", o->dot, "print Graphviz dot instead of text");
    sub->add_option("--after", o->after, "show the graph after this pass (none = as built)")
        ->check(CLI::IsMember(dl::pass_names()));
    sub->add_option("--mode", o->mode, "train (forward, loss, backward) or predict")
        ->check(CLI::IsMember({"train", "predict"}));
    sub->add_option("--batch", o->batch, "batch size (default: the spec's)")->check(CLI::PositiveNumber);
    sub->callback([o] { run_graph(*o); });
}

}  // namespace dlctl
