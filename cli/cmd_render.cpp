#include <fmt/format.h>

#include "commands.h"
#include "spec/spec.h"

namespace dlctl {

namespace {

struct RenderOptions {
    std::string spec;
    std::vector<std::string> overrides;
};

}  // namespace

void setup_render(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<RenderOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("spec", o->spec, "the model's YAML spec")->required();
    sub->add_option("--set", o->overrides, "override a spec field: KEY=VALUE; repeatable");
    sub->callback([o] { fmt::print("{}", dl::render_spec(dl::load_spec(o->spec, o->overrides))); });
}

}  // namespace dlctl
