#include <fmt/format.h>

#include "commands.h"
#include "model/model.h"
#include "model/session.h"

namespace dlctl {

namespace {

struct ValidateOptions {
    std::string spec;
    std::vector<std::string> overrides;
};

void run_validate(const ValidateOptions & o) {
    const dl::Spec spec = dl::load_spec(o.spec, o.overrides);
    const dl::PreparedData data = dl::prepare_data(spec);
    const dl::Table & table = data.table;
    const dl::DataInfo & info = data.info;
    // Shapes and sizes only: nothing of the model's size is allocated to check it.
    const dl::ModelSize size = dl::check_model(spec, info);
    const dl::Splits & s = data.splits;
    fmt::print("{}: ok: '{}', {} parameters, {} rows ({} train, {} validation, {} test)\n", o.spec, spec.name,
               size.parameters, table.rows(), s.train.size(), s.validation.size(), s.test.size());
}

}  // namespace

void setup_validate(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<ValidateOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("spec", o->spec, "the model's YAML spec")->required();
    sub->add_option("--set", o->overrides, "override a spec field: KEY=VALUE; repeatable");
    sub->callback([o] { run_validate(*o); });
}

}  // namespace dlctl
