// Every registered optimizer, schedule, loss and metric, the way test_layers.cpp checks every layer: each lives in the
// file named after it, is read from a spec and rendered back (a fixed point), and does its part of a training
// step. A new one is covered by registering it.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "model/model.h"
#include "optim/optimizer.h"
#include "spec/loss_def.h"
#include "spec/metric_def.h"
#include "spec/optimizer_def.h"
#include "spec/schedule_def.h"

namespace {
using namespace dl;

Spec parse_with(const std::string & train, const std::string & output = "{units: 1}") {
    return parse_spec(fmt::format(R"(name: registry-test
data: {{path: datasets/housing.csv, target: MEDV}}
model:
  input: [4]
  layers:
    - dense: {}
train: {}
)",
                                  output, train),
                      "registry-test.yaml", DLCTL_SOURCE_DIR);
}

void check_fixed_point(const Spec & spec) {
    const std::string rendered = render_spec(spec);
    CHECK(render_spec(parse_spec(rendered, "registry-test.yaml", DLCTL_SOURCE_DIR)) == rendered);
}

std::string file_of(const char * path) { return std::filesystem::path(path).filename().string(); }
std::string folder_of(const char * path) {
    return std::filesystem::path(path).parent_path().filename().string();
}

}  // namespace

TEST_CASE(
    "registries: every optimizer reads, renders as a fixed point and moves a parameter against its "
    "gradient") {
    const std::vector<const OptimizerDef *> optimizers = all_optimizers();
    REQUIRE(optimizers.size() >= 5);
    for (const OptimizerDef * def : optimizers) {
        CAPTURE(def->type);
        CHECK(file_of(def->file) == std::string(def->type) + ".cpp");
        CHECK(folder_of(def->file) == "optim");
        REQUIRE((def->slots != nullptr && def->update != nullptr));
        const Spec spec = parse_with(fmt::format("{{optimizer: {{type: {}}}}}", def->type));
        CHECK(spec.train.optimizer.type == def->type);
        CHECK(spec.train.optimizer.lr == def->lr);
        check_fixed_point(spec);
        CHECK(update_rule(spec.train.optimizer, {}).kind == def->kind);
        CHECK(find_optimizer(def->kind) == def);

        ParamStore params;
        Tensor & w = params.add("w", Shape{3}, true);
        std::fill(w.f32(), w.f32() + 3, 1.0f);
        Tensor grad(Shape{3});
        std::fill(grad.f32(), grad.f32() + 3, 0.5f);
        Optimizer opt(spec.train.optimizer, {}, params);
        opt.step({grad.view()}, spec.train.optimizer.lr);
        CHECK(params.at("w").f32()[0] < 1.0f);
        CHECK(opt.iterations() == 1);
    }
}

TEST_CASE("registries: every loss reads, renders as a fixed point and ends a training graph in a scalar") {
    for (const std::string & name : loss_names()) {
        const LossDef * def = find_loss(name);
        CAPTURE(name);
        REQUIRE(def != nullptr);
        CHECK(file_of(def->file) == name + ".cpp");
        CHECK(folder_of(def->file) == "losses");
        const Spec spec = parse_with(fmt::format("{{loss: {}}}", name),
                                     def->classification ? "{units: 3, activation: softmax}" : "{units: 1}");
        CHECK(spec.train.loss.name == name);
        CHECK(is_classification_loss(name) == def->classification);
        check_fixed_point(spec);
        for (const std::string & alias : def->aliases)
            CHECK(parse_with(fmt::format("{{loss: {}}}", alias)).train.loss.name == name);
        const DataInfo info = data_info_for(spec, {4}, 1, def->classification ? 3 : 0);
        ParamStore params;
        const Graph g = build_model_graph(spec, info, 2, GraphMode::train, params);
        REQUIRE(g.outputs().count("loss") == 1);
        CHECK(g.node(g.outputs().at("loss")).shape.numel() == 1);
    }
    CHECK(loss_names().size() >= 6);
}

TEST_CASE("registries: every metric is read by its name and aliases, and adds a sample's share") {
    for (const std::string & name : metric_names()) {
        const MetricDef * def = find_metric(name);
        CAPTURE(name);
        REQUIRE(def != nullptr);
        CHECK(file_of(def->file) == name + ".cpp");
        CHECK(folder_of(def->file) == "metrics");
        CHECK(parse_with(fmt::format("{{metrics: [{}]}}", name)).train.metrics ==
              std::vector<std::string>{name});
        for (const std::string & alias : def->aliases)
            CHECK(parse_with(fmt::format("{{metrics: [{}]}}", alias)).train.metrics ==
                  std::vector<std::string>{name});
        REQUIRE((def->classified != nullptr || def->regressed != nullptr));
        const float prediction[2] = {0.9f, 0.1f}, target[2] = {0.0f, 0.0f};
        double sum = 0;
        if (def->regressed) def->regressed(sum, prediction, target, 2);
        if (def->classified) def->classified(sum, prediction, 2, 0);
        CHECK(sum > 0);
    }
    CHECK(find_metric("val_accuracy") == nullptr);
}

TEST_CASE("registries: every schedule reads, renders as a fixed point and starts at the optimizer's rate") {
    const std::vector<const ScheduleDef *> schedules = all_schedules();
    REQUIRE(schedules.size() >= 5);
    for (const ScheduleDef * def : schedules) {
        CAPTURE(def->type);
        CHECK(file_of(def->file) == std::string(def->type) + ".cpp");
        CHECK(folder_of(def->file) == "schedules");
        REQUIRE((def->rate != nullptr));
        const Spec spec = parse_with(fmt::format("{{schedule: {{type: {}, warmup_epochs: 1{}}}, epochs: 10}}",
                                                 def->type, def->monitored ? ", monitor: loss" : ""));
        CHECK(spec.train.schedule.type == def->type);
        check_fixed_point(spec);
        const LrSchedule schedule(spec.train, 4);
        const double lr = spec.train.optimizer.lr;
        CHECK(schedule.at(0, 1.0) == doctest::Approx(lr / 4));  // the warm-up's first step, whatever follows
        CHECK(schedule.at(4, 1.0) == doctest::Approx(lr));      // the schedule's own start
        CHECK(schedule.at(40, 1.0) <= lr);
        if (def->monitored) CHECK(schedule.plateau_lr(0.5) == doctest::Approx(lr * 0.5));
    }
}
