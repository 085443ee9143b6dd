// The resolved spec as YAML, every default filled in: what `dlctl render` prints, what a run saves as
// spec.yaml and in model.h5, and what --resume compares.
#include <yaml-cpp/yaml.h>

#include <type_traits>

#include "spec/loss_def.h"
#include "spec/optimizer_def.h"
#include "spec/schedule_def.h"
#include "spec/spec.h"

namespace dl {

namespace {

void emit_option(YAML::Emitter & e, const LayerValue & value) {
    std::visit(
        [&](const auto & v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
                e << YAML::Flow << v;
            } else if constexpr (std::is_same_v<T, std::vector<std::vector<int64_t>>>) {
                e << YAML::Flow << YAML::BeginSeq;
                for (const std::vector<int64_t> & pair : v) e << YAML::Flow << pair;
                e << YAML::EndSeq;
            } else {
                e << v;
            }
        },
        value);
}

// A layer's options in the order it read them (spec/layer_def.h): render needs nothing of the layer itself.
void emit_layer(YAML::Emitter & e, const LayerSpec & l) {
    e << YAML::BeginMap << YAML::Key << l.type << YAML::Value << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << l.name;
    if (!l.inputs.empty()) e << YAML::Key << "inputs" << YAML::Value << YAML::Flow << l.inputs;
    for (const auto & [key, value] : l.options) {
        e << YAML::Key << key << YAML::Value;
        emit_option(e, value);
    }
    e << YAML::EndMap << YAML::EndMap;
}

}  // namespace

std::string render_spec(const Spec & s) {
    YAML::Emitter e;
    e.SetDoublePrecision(17);
    e << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << s.name;
    e << YAML::Key << "seed" << YAML::Value << s.seed;

    e << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "format" << YAML::Value << s.data.format;
    if (s.data.format == "idx") {
        for (auto [key, file] :
             {std::pair{"images", &s.data.images}, std::pair{"labels", &s.data.labels},
              std::pair{"test_images", &s.data.test_images}, std::pair{"test_labels", &s.data.test_labels}})
            if (file->given()) e << YAML::Key << key << YAML::Value << file->path;
    } else {
        e << YAML::Key << "path" << YAML::Value << s.data.path;
        e << YAML::Key << "target" << YAML::Value << YAML::Flow << s.data.targets;
        if (!s.data.features.empty())
            e << YAML::Key << "features" << YAML::Value << YAML::Flow << s.data.features;
        e << YAML::Key << "delimiter" << YAML::Value << s.data.delimiter;
    }
    e << YAML::Key << "rescale" << YAML::Value << s.data.rescale;
    e << YAML::Key << "test_split" << YAML::Value << s.data.test_split;
    e << YAML::Key << "validation_split" << YAML::Value << s.data.validation_split;
    e << YAML::Key << "normalize" << YAML::Value << s.data.normalize;
    if (s.data.augment.any()) {
        const AugmentSpec & a = s.data.augment;
        e << YAML::Key << "augment" << YAML::Value << YAML::Flow << YAML::BeginMap;
        e << YAML::Key << "flip" << YAML::Value << a.flip;
        e << YAML::Key << "crop_padding" << YAML::Value << a.crop_padding;
        e << YAML::Key << "translate" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "height"
          << YAML::Value << a.translate_height << YAML::Key << "width" << YAML::Value << a.translate_width
          << YAML::EndMap;
        e << YAML::EndMap;
    }
    e << YAML::EndMap;

    e << YAML::Key << "model" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "input" << YAML::Value << YAML::Flow << s.model.input;
    e << YAML::Key << "layers" << YAML::Value << YAML::BeginSeq;
    for (const LayerSpec & l : s.model.layers) emit_layer(e, l);
    e << YAML::EndSeq << YAML::EndMap;

    const TrainSpec & t = s.train;
    e << YAML::Key << "train" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "loss" << YAML::Value << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << t.loss.name;
    if (const LossDef * def = find_loss(t.loss.name)) emit_keys(e, def->keys, t.loss);
    e << YAML::EndMap;
    e << YAML::Key << "metrics" << YAML::Value << YAML::Flow << t.metrics;

    const OptimizerSpec & o = t.optimizer;
    e << YAML::Key << "optimizer" << YAML::Value << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "type" << YAML::Value << o.type << YAML::Key << "lr" << YAML::Value << o.lr;
    if (const OptimizerDef * def = find_optimizer(o.type)) emit_keys(e, def->keys, o);
    e << YAML::Key << "weight_decay" << YAML::Value << o.weight_decay << YAML::EndMap;

    e << YAML::Key << "epochs" << YAML::Value << t.epochs;
    e << YAML::Key << "batch_size" << YAML::Value << t.batch_size;
    // Written only when set, so the specs of versions trained before it existed render (and hash) as they
    // did.
    if (t.precision != "float32") e << YAML::Key << "precision" << YAML::Value << t.precision;
    if (t.steps_per_epoch > 0) e << YAML::Key << "steps_per_epoch" << YAML::Value << t.steps_per_epoch;
    e << YAML::Key << "shuffle" << YAML::Value << t.shuffle;
    e << YAML::Key << "deterministic" << YAML::Value << t.deterministic;

    const ScheduleSpec & sc = t.schedule;
    e << YAML::Key << "schedule" << YAML::Value << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "type" << YAML::Value << sc.type << YAML::Key << "warmup_epochs" << YAML::Value
      << sc.warmup_epochs;
    if (const ScheduleDef * def = find_schedule(sc.type); def && def->render) def->render(e, sc);
    e << YAML::EndMap;

    if (t.clip.global_norm > 0 || t.clip.value > 0) {
        e << YAML::Key << "clip" << YAML::Value << YAML::Flow << YAML::BeginMap;
        if (t.clip.global_norm > 0) e << YAML::Key << "global_norm" << YAML::Value << t.clip.global_norm;
        if (t.clip.value > 0) e << YAML::Key << "value" << YAML::Value << t.clip.value;
        e << YAML::EndMap;
    }
    if (t.early_stopping.enabled) {
        const EarlyStoppingSpec & es = t.early_stopping;
        e << YAML::Key << "early_stopping" << YAML::Value << YAML::Flow << YAML::BeginMap;
        e << YAML::Key << "monitor" << YAML::Value << es.monitor << YAML::Key << "patience" << YAML::Value
          << es.patience << YAML::Key << "min_delta" << YAML::Value << es.min_delta << YAML::Key
          << "restore_best" << YAML::Value << es.restore_best;
        e << YAML::EndMap;
    }
    const CheckpointSpec & c = t.checkpoint;
    e << YAML::Key << "checkpoint" << YAML::Value << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "every_epochs" << YAML::Value << c.every_epochs << YAML::Key << "min_interval_s"
      << YAML::Value << c.min_interval_s << YAML::Key << "keep_last" << YAML::Value << c.keep_last
      << YAML::Key << "keep_best" << YAML::Value << c.keep_best << YAML::Key << "monitor" << YAML::Value
      << c.monitor;
    e << YAML::EndMap;
    e << YAML::EndMap;

    e << YAML::EndMap;
    return std::string(e.c_str()) + "\n";
}

}  // namespace dl
