#include "spec/spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>

#include "core/fs.h"
#include "spec/layer_def.h"
#include "spec/loss_def.h"
#include "spec/metric_def.h"
#include "spec/optimizer_def.h"
#include "spec/schedule_def.h"
#include "spec/yaml_reader.h"

namespace dl {

namespace {

// Where a missing file usually comes from, for the error message.
std::string install_hint(const std::string & path) {
    if (path.find("/usr/share/datasets/fashion-mnist/") != std::string::npos)
        return "Fashion-MNIST comes from Debian's dataset-fashion-mnist package: apt-get install "
               "dataset-fashion-mnist";
    return {};
}

DataFile read_file_key(Problems & p, MapReader & m, const char * key, const std::string & base_dir) {
    DataFile f;
    f.as_written = m.string(key, "");
    f.loc = m.value_loc(key);
    if (f.as_written.empty()) return f;
    std::filesystem::path path(f.as_written);
    if (path.is_relative()) path = std::filesystem::path(base_dir.empty() ? "/" : base_dir) / path;
    f.path = std::filesystem::absolute(path).lexically_normal().string();
    if (!base_dir.empty() && !file_exists(f.path))
        p.add_missing_file(f.loc, fmt::format("data.{}: no such file '{}'", key, f.as_written),
                           install_hint(f.path));
    return f;
}

void read_data(Problems & p, const YAML::Node & node, const std::string & base_dir, DataSpec & d,
               SourceLoc where) {
    MapReader m(p, node, "data", false, std::move(where));
    d.format = m.choice("format", "csv", {"csv", "idx"}, "data format");
    d.test_split = m.number("test_split", 0.0, in_unit_interval_open_right());
    d.validation_split = m.number("validation_split", 0.0, in_unit_interval_open_right());
    d.normalize = m.choice("normalize", "none", {"none", "standard", "minmax"}, "normalization");
    d.rescale = m.number("rescale", 1.0, positive_finite());
    if (m.has("augment")) {
        d.augment.loc = m.key_loc("augment");
        MapReader a(p, m.raw("augment"), "data.augment", false, d.augment.loc);
        d.augment.flip = a.choice("flip", "none",
                                  {"none", "horizontal", "vertical", "horizontal_and_vertical"}, "flip mode");
        d.augment.crop_padding = a.integer("crop_padding", 0, in_range(0, kMaxWindow));
        const YAML::Node t = a.raw("translate");
        if (a.has("translate")) {
            auto fraction = [](double v) {
                return v >= 0 && v <= 1 ? std::string() : std::string("must be in [0, 1]");
            };
            if (t.IsScalar()) {
                d.augment.translate_height = d.augment.translate_width = a.number("translate", 0.0, fraction);
            } else {
                MapReader f(p, t, "data.augment.translate", false, a.key_loc("translate"));
                d.augment.translate_height = f.number("height", 0.0, fraction);
                d.augment.translate_width = f.number("width", 0.0, fraction);
                f.finish();
            }
        }
        a.finish();
    }
    if (d.format == "idx") {
        m.require("images");
        m.require("labels");
        d.images = read_file_key(p, m, "images", base_dir);
        d.labels = read_file_key(p, m, "labels", base_dir);
        d.test_images = read_file_key(p, m, "test_images", base_dir);
        d.test_labels = read_file_key(p, m, "test_labels", base_dir);
        if (m.has("test_images") != m.has("test_labels"))
            p.add(m.key_loc(m.has("test_images") ? "test_images" : "test_labels"),
                  "data: give both test_images and test_labels, or neither");
        if (m.has("test_images") && d.test_split > 0)
            p.add(m.value_loc("test_split"),
                  "data.test_split: the test set comes from test_images; remove test_split");
        d.targets = {"label"};
        m.finish();
        return;
    }
    m.require("path");
    m.require("target");
    const DataFile csv = read_file_key(p, m, "path", base_dir);
    d.path = csv.path;
    d.path_as_written = csv.as_written;
    d.path_loc = csv.loc;
    d.target_loc = m.value_loc("target");
    d.targets = m.strings("target");
    if (m.has("target") && d.targets.empty())
        p.add(d.target_loc, "data.target: name at least one target column");
    d.features_loc = m.value_loc("features");
    d.features = m.strings("features");
    d.delimiter = m.string("delimiter", ",");
    if (d.delimiter.size() != 1) p.add(m.value_loc("delimiter"), "data.delimiter must be a single character");
    m.finish();
}

LayerSpec read_layer(Problems & p, const YAML::Node & item, const std::string & path,
                     std::map<std::string, int> & type_counts) {
    LayerSpec layer;
    layer.loc = p.loc(item, path);
    if (!item.IsMap() || item.size() != 1) {
        p.add(layer.loc,
              fmt::format("{}: a layer is a mapping with one key, its type, e.g. '- dense: {{units: 8}}'",
                          path));
        return layer;
    }
    auto it = item.begin();
    layer.type = it->first.Scalar();
    layer.loc = p.loc(it->first, path);
    const LayerDef * def = find_layer(layer.type);
    if (def == nullptr) {
        const std::vector<std::string> types = layer_types();
        const std::string close = closest_match(layer.type, types);
        p.add(layer.loc, fmt::format("unknown layer '{}'", layer.type),
              close.empty() ? fmt::format("expected one of: {}", fmt::join(types, ", "))
                            : fmt::format("did you mean '{}'?", close));
        layer.type.clear();
        return layer;
    }
    layer.type = def->type;
    const std::string opts_path = path + "." + layer.type;
    MapReader m(p, it->second, opts_path, /*allow_null=*/true, layer.loc);
    const int seen = type_counts[layer.type]++;
    layer.name = m.string("name", seen == 0 ? layer.type : fmt::format("{}_{}", layer.type, seen));
    // By hand, not std::regex: libstdc++'s matcher recurses once per character and a long name overflows the
    // stack.
    const auto name_char = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    };
    const bool name_ok = !layer.name.empty() && layer.name.size() <= kMaxLayerNameBytes &&
                         (std::isalpha(static_cast<unsigned char>(layer.name[0])) || layer.name[0] == '_') &&
                         std::all_of(layer.name.begin(), layer.name.end(), name_char);
    if (!name_ok)
        p.add(m.value_loc("name"),
              fmt::format(
                  "layer name '{}' must be letters, digits, '_', '.', '-', starting with a letter or "
                  "'_', at most {} characters",
                  layer.name.size() > kMaxLayerNameBytes ? layer.name.substr(0, 32) + "..." : layer.name,
                  kMaxLayerNameBytes));
    layer.inputs = m.strings("inputs");
    if (def->read) {
        LayerReader reader{.problems = p, .keys = m, .layer = layer, .path = opts_path};
        def->read(reader);
    }
    if (def->min_inputs > 1 && m.has("inputs") && layer.inputs.size() < def->min_inputs)
        p.add(m.value_loc("inputs"),
              fmt::format("{} needs at least {} inputs", layer.type,
                          def->min_inputs == 2 ? "two" : std::to_string(def->min_inputs)));
    m.finish();
    return layer;
}

void read_model(Problems & p, const YAML::Node & node, ModelSpec & model, SourceLoc where) {
    MapReader m(p, node, "model", false, std::move(where));
    m.require("input");
    model.input_loc = m.value_loc("input");
    model.input = m.integers("input", in_range(1, kMaxExtent));
    if (m.has("input") && model.input.empty() && m.raw("input").IsSequence() && m.raw("input").size() == 0)
        p.add(model.input_loc, "model.input: give the input shape, e.g. [13]");
    m.require("layers");
    YAML::Node layers = m.raw("layers");
    if (layers.IsDefined()) {
        if (!layers.IsSequence() || layers.size() == 0) {
            p.add(p.loc(layers, "model.layers"), "model.layers: expected a non-empty list of layers");
        } else if (layers.size() > static_cast<size_t>(kMaxLayers)) {
            p.add(p.loc(layers, "model.layers"),
                  fmt::format("model.layers: {} layers; the limit is {}", layers.size(), kMaxLayers));
        } else {
            std::map<std::string, int> counts;
            std::map<std::string, int> names = {{"input", 0}};
            for (size_t i = 0; i < layers.size(); ++i) {
                LayerSpec layer = read_layer(p, layers[i], fmt::format("model.layers.{}", i), counts);
                if (layer.type.empty()) continue;
                for (const std::string & in : layer.inputs) {
                    if (names.count(in) == 0) {
                        if (p.full()) {  // counted, not shown: skip the did-you-mean search
                            p.add(layer.loc, "an input that is not an earlier layer");
                            continue;
                        }
                        std::vector<std::string> known;
                        for (auto & [n, line] : names) known.push_back(n);
                        const std::string close = closest_match(in, known);
                        p.add(layer.loc,
                              fmt::format("layer '{}' takes input '{}', which is not an earlier layer",
                                          layer.name, in),
                              close.empty() ? "" : fmt::format("did you mean '{}'?", close));
                    }
                }
                if (auto [prev, fresh] = names.emplace(layer.name, layer.loc.line); !fresh)
                    p.add(layer.loc, fmt::format("layer name '{}' is used twice", layer.name),
                          fmt::format(
                              "the layer at line {} is already named '{}' (names default to the type: dense, "
                              "dense_1, ...); give one of them a name of its own",
                              prev->second, layer.name));
                model.layers.push_back(std::move(layer));
            }
        }
    }
    m.finish();
}

void read_optimizer(Problems & p, MapReader & train, OptimizerSpec & o) {
    YAML::Node node = train.raw("optimizer");
    if (!node.IsDefined()) return;
    if (node.IsScalar()) {  // `optimizer: adam` with defaults
        YAML::Node as_map(YAML::NodeType::Map);
        as_map["type"] = node;
        node = as_map;
    }
    MapReader m(p, node, "train.optimizer");
    o.type = m.choice("type", "adam", optimizer_types(), "optimizer");
    const OptimizerDef * def = find_optimizer(o.type);
    if (def == nullptr) def = find_optimizer("adam");  // the problem is reported; read the rest as adam's
    const bool has_lr = m.has("lr");
    o.lr = m.number(has_lr || !m.has("learning_rate") ? "lr" : "learning_rate", def->lr, positive_finite());
    o.weight_decay = m.number("weight_decay", def->weight_decay, non_negative());
    read_keys(m, def->keys, o);
    m.finish();
}

void read_train(Problems & p, const YAML::Node & node, TrainSpec & t) {
    MapReader m(p, node, "train", /*allow_null=*/true);
    // loss: a name, or {name, delta, from_logits}
    YAML::Node loss = m.raw("loss");
    if (loss.IsDefined() && loss.IsMap()) {
        MapReader l(p, loss, "train.loss");
        l.require("name");
        t.loss.name = l.choice("name", "mse", loss_names(), "loss", loss_aliases());
        t.loss.delta = l.number("delta", 1.0, positive_finite());
        t.loss.from_logits = l.boolean("from_logits", false);
        l.finish();
    } else if (loss.IsDefined()) {
        t.loss.name = m.choice("loss", "mse", loss_names(), "loss", loss_aliases());
    }
    for (const std::string & metric : m.strings("metrics")) {
        if (const MetricDef * def = find_metric(metric)) {
            t.metrics.push_back(def->name);
        } else {
            std::vector<std::string> all = metric_names();
            for (auto & [alias, name] : metric_aliases()) all.push_back(alias);
            const std::string close = closest_match(metric, all);
            p.add(m.value_loc("metrics"), fmt::format("unknown metric '{}'", metric),
                  close.empty() ? fmt::format("expected one of: {}", fmt::join(metric_names(), ", "))
                                : fmt::format("did you mean '{}'?", close));
        }
    }
    read_optimizer(p, m, t.optimizer);
    t.epochs = m.integer("epochs", 1, in_range(1, kMaxEpochs));
    t.batch_size = m.integer("batch_size", 32, in_range(1, kMaxBatchSize));
    t.steps_per_epoch = m.integer("steps_per_epoch", 0, in_range(0, kMaxStepsPerEpoch));
    t.shuffle = m.boolean("shuffle", true);
    t.deterministic = m.boolean("deterministic", true);
    t.precision = m.choice("precision", "float32", {"float32", "tf32", "bf16"}, "precision");

    if (YAML::Node s = m.raw("schedule"); s.IsDefined()) {
        MapReader r(p, s, "train.schedule");
        ScheduleSpec & sc = t.schedule;
        sc.type = r.choice("type", "constant", schedule_types(), "schedule");
        sc.warmup_epochs = r.number("warmup_epochs", 0.0, non_negative());
        if (const ScheduleDef * def = find_schedule(sc.type); def && def->read)
            def->read(r, sc, m.key_loc("schedule"));
        r.finish();
    }
    if (YAML::Node c = m.raw("clip"); c.IsDefined()) {
        MapReader r(p, c, "train.clip");
        t.clip.global_norm = r.number("global_norm", 0.0, non_negative());  // 0 = off
        t.clip.value = r.number("value", 0.0, non_negative());
        r.finish();
    }
    if (YAML::Node e = m.raw("early_stopping"); e.IsDefined()) {
        MapReader r(p, e, "train.early_stopping", /*allow_null=*/true);
        t.early_stopping.enabled = r.boolean("enabled", true);
        t.early_stopping.loc = m.key_loc("early_stopping");
        t.early_stopping.monitor_loc = r.has("monitor") ? r.value_loc("monitor") : t.early_stopping.loc;
        t.early_stopping.monitor = r.string("monitor", "val_loss");
        t.early_stopping.patience = r.integer("patience", 10, in_range(0, kMaxEpochs));
        t.early_stopping.min_delta = r.number("min_delta", 0.0, non_negative());
        t.early_stopping.restore_best = r.boolean("restore_best", false);
        r.finish();
    }
    if (YAML::Node c = m.raw("checkpoint"); c.IsDefined()) {
        MapReader r(p, c, "train.checkpoint", /*allow_null=*/true);
        t.checkpoint.every_epochs = r.integer("every_epochs", 1, in_range(1, kMaxEpochs));
        t.checkpoint.min_interval_s = r.number("min_interval_s", 10.0, non_negative());
        t.checkpoint.keep_last = r.integer("keep_last", 0, in_range(0, kMaxKeepLast));
        t.checkpoint.keep_best = r.boolean("keep_best", false);
        t.checkpoint.loc = m.key_loc("checkpoint");
        t.checkpoint.monitor_loc = r.has("monitor") ? r.value_loc("monitor") : t.checkpoint.loc;
        t.checkpoint.monitor = r.string("monitor", "val_loss");
        r.finish();
    }
    m.finish();
}

// Monitors name a logged quantity: loss, val_loss, val_<metric>.
void check_monitor(Problems & p, const Spec & s, const std::string & monitor, const SourceLoc & loc,
                   const std::string & where) {
    std::vector<std::string> known = {"loss", "val_loss"};
    for (const std::string & m : s.train.metrics) {
        known.push_back(m);
        known.push_back("val_" + m);
    }
    if (std::find(known.begin(), known.end(), monitor) == known.end()) {
        const std::string close = closest_match(monitor, known);
        p.add(loc, fmt::format("{}: unknown monitor '{}'", where, monitor),
              close.empty() ? fmt::format("expected one of: {}", fmt::join(known, ", "))
                            : fmt::format("did you mean '{}'?", close));
    }
}

}  // namespace

bool is_classification_loss(const std::string & loss) {
    const LossDef * def = find_loss(loss);
    return def != nullptr && def->classification;
}

std::string closest_match(const std::string & word, const std::vector<std::string> & candidates) {
    auto lower = [](std::string s) {
        for (char & c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    };
    for (const std::string & c : candidates)
        if (lower(c) == lower(word)) return c;
    // Optimal string alignment: insertions, deletions, substitutions and swaps of neighbours cost 1.
    auto distance = [](const std::string & a, const std::string & b) {
        std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
        for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
        for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
        for (size_t i = 1; i <= a.size(); ++i) {
            for (size_t j = 1; j <= b.size(); ++j) {
                d[i][j] = std::min(
                    {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
        return d[a.size()][b.size()];
    };
    std::string best;
    size_t best_d = SIZE_MAX;
    for (const std::string & c : candidates) {
        const size_t d = distance(word, c);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    // Close enough to be a typo: at most a third of the word, and at least one edit allowed.
    return best_d <= std::max<size_t>(1, word.size() / 3) ? best : std::string();
}

Spec parse_spec(const std::string & text, const std::string & file, const std::string & base_dir,
                const std::vector<std::string> & overrides) {
    YAML::Node root;
    {
        Problems p(file, {});
        root = load_yaml(p, text);
        p.throw_if_any();
    }
    if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    std::map<std::string, std::string> applied = apply_overrides(root, overrides);
    Problems p(file, applied);
    Spec s;
    s.file = file;
    MapReader top(p, root, "");
    top.require("name");
    s.name = top.string("name", "");
    // By hand, not std::regex: libstdc++'s matcher recurses once per character of a long value.
    const auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    const bool name_ok = !s.name.empty() && s.name.size() <= 64 && lower_or_digit(s.name[0]) &&
                         std::all_of(s.name.begin(), s.name.end(), [&](char c) {
                             return lower_or_digit(c) || c == '.' || c == '_' || c == '-';
                         });
    const auto shortened = [](const std::string & v) { return v.size() > 80 ? v.substr(0, 64) + "..." : v; };
    if (top.has("name") && !name_ok) {
        p.add(
            top.value_loc("name"),
            fmt::format(
                "name '{}' must be lowercase letters, digits, '.', '_' or '-', starting with a letter or "
                "digit, at most 64 characters",
                shortened(s.name)),
            "it becomes a directory, an image repository and part of NAME@VERSION; e.g. name: housing-model");
    }
    s.seed = static_cast<uint64_t>(top.integer("seed", 0, in_range(0, kMaxSeed)));
    s.device = top.string("device", "");
    const bool cuda_index =
        s.device.size() > 5 && s.device.size() <= 8 && s.device.rfind("cuda:", 0) == 0 &&
        std::all_of(s.device.begin() + 5, s.device.end(), [](char c) { return c >= '0' && c <= '9'; });
    const bool device_ok = s.device == "cpu" || s.device == "cuda" || s.device == "auto" || cuda_index;
    if (top.has("device") && !device_ok)
        p.add(top.value_loc("device"),
              fmt::format("device '{}' is not cpu, cuda, cuda:N or auto", shortened(s.device)),
              "the GPU is cuda (cuda:1 for the second); auto takes the GPU when there is one");
    top.require("data");
    if (top.has("data")) read_data(p, top.raw("data"), base_dir, s.data, top.key_loc("data"));
    top.require("model");
    if (top.has("model")) read_model(p, top.raw("model"), s.model, top.key_loc("model"));
    read_train(p, top.raw("train"), s.train);
    top.finish();

    if (p.empty()) {
        const EarlyStoppingSpec & es = s.train.early_stopping;
        const ScheduleSpec & sc = s.train.schedule;
        const CheckpointSpec & cp = s.train.checkpoint;
        if (es.enabled) check_monitor(p, s, es.monitor, es.monitor_loc, "train.early_stopping.monitor");
        const ScheduleDef * schedule = find_schedule(sc.type);
        const bool monitored = schedule != nullptr && schedule->monitored;
        if (monitored) check_monitor(p, s, sc.monitor, sc.monitor_loc, "train.schedule.monitor");
        check_monitor(p, s, cp.monitor, cp.monitor_loc, "train.checkpoint.monitor");
        if (s.data.validation_split == 0.0) {
            auto needs_val = [](const std::string & m) { return m.rfind("val_", 0) == 0; };
            auto no_validation = [&](const SourceLoc & loc, const char * what, const std::string & monitor) {
                p.add(loc, fmt::format("{} monitors '{}', but data.validation_split is 0", what, monitor),
                      "set data.validation_split (e.g. 0.2), or monitor: loss");
            };
            if (es.enabled && needs_val(es.monitor))
                no_validation(es.monitor_loc, "train.early_stopping", es.monitor);
            if (monitored && needs_val(sc.monitor))
                no_validation(sc.monitor_loc, "train.schedule", sc.monitor);
            if (cp.keep_best && needs_val(cp.monitor))
                no_validation(cp.monitor_loc, "train.checkpoint.keep_best", cp.monitor);
        }
    }
    if (p.empty()) {
        if (const size_t bytes = render_spec(s).size(); bytes > kMaxRenderedSpecBytes)
            p.add({.file = file},
                  fmt::format(
                      "the resolved spec (dlctl render) takes {} bytes; a model file stores at most {} ({} "
                      "layers here)",
                      bytes, kMaxRenderedSpecBytes, s.model.layers.size()),
                  "the limit comes from the HDF5 attribute that holds it; use fewer layers");
    }
    p.throw_if_any();
    return s;
}

Spec load_spec(const std::string & path, const std::vector<std::string> & overrides) {
    if (!file_exists(path)) {
        throw Error(ExitCode::missing_input, fmt::format("{}: no such spec file", path));
    }
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    if (!ec && bytes > kMaxSpecBytes)  // before reading it: a spec is a page or two, not a data set
        throw Error(ExitCode::bad_input, fmt::format("{}: the spec is {} bytes; the limit is {} MiB", path,
                                                     bytes, kMaxSpecBytes >> 20));
    const std::string text = read_file(path);
    const std::string base = std::filesystem::path(path).parent_path().string();
    return parse_spec(text, path, base.empty() ? "." : base, overrides);
}

}  // namespace dl
