// The model spec: one YAML file per model, read into these structs with every default filled in.
//   Spec s = load_spec("configs/housing.yaml", {"train.epochs=5"});   // throws Error(bad_input) listing all
//   problems std::string yaml = render_spec(s);                                  // the resolved spec (dlctl
//   render)
// Every layer keeps its YAML location so that graph errors found later point at the user's line.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/source_loc.h"

namespace dl {

// The ranges of the spec's integer fields, checked as it is read (README "The spec" lists them). They keep
// every size the model computes far from int64_t overflow; what a model may allocate is bounded separately,
// from the shapes (model/model.h).
constexpr int64_t kMaxExtent = int64_t{1} << 24;  // units, filters, groups, depth_multiplier, embedding
    // input_dim/output_dim, model.input and target_shape extents
constexpr int64_t kMaxWindow = int64_t{1} << 16;  // kernel_size, pool_size, strides, dilation_rate, padding,
                                                  // crop_padding
constexpr int64_t kMaxLayers = 10000;
constexpr size_t kMaxLayerNameBytes = 128;
constexpr int64_t kMaxEpochs = 1000000;  // epochs, patience, every_epochs
constexpr int64_t kMaxBatchSize = int64_t{1} << 20;
constexpr int64_t kMaxStepsPerEpoch = 1000000000;
constexpr int64_t kMaxKeepLast = 1000;
constexpr int64_t kMaxSeed = 1000000000000000;  // 10^15: exact as the double YAML numbers are read through
// A model file keeps the resolved spec (render_spec) in one fixed-length HDF5 attribute, which holds at most
// 64 KiB and which every dlctl release reads: a spec that renders longer is refused as it is read, not when
// the finished model is saved (about 390 dense layers). Longer attributes (a model's graph) are stored
// variable-length (io/h5file.cpp).
constexpr size_t kMaxRenderedSpecBytes = 60000;

// A file the data section names: resolved relative to the spec file, made absolute.
struct DataFile {
    std::string path, as_written;
    SourceLoc loc;
    bool given() const { return !path.empty(); }
};

// Training-time image augmentation (data.augment): a flip and whole-pixel shifts with zero fill.
struct AugmentSpec {
    std::string flip =
        "none";  // none | horizontal | vertical | horizontal_and_vertical (as Keras' RandomFlip)
    int64_t crop_padding = 0;  // random crop with this much zero padding: a shift of up to this many pixels
    double translate_height =
        0.0;  // random translation by up to this fraction of the height (RandomTranslation)
    double translate_width = 0.0;
    SourceLoc loc;
    bool any() const {
        return flip != "none" || crop_padding > 0 || translate_height > 0 || translate_width > 0;
    }
};

struct DataSpec {
    std::string format = "csv";  // csv | idx
    std::string path;            // csv: resolved: relative to the spec file, made absolute
    std::string path_as_written;
    DataFile images, labels, test_images, test_labels;  // idx (MNIST format, plain or gzip)
    double rescale = 1.0;               // features are multiplied by it on load (1/255 for 8-bit images)
    std::vector<std::string> targets;   // one or more target columns
    std::vector<std::string> features;  // empty = every other column
    std::string delimiter = ",";
    double test_split = 0.0;
    double validation_split = 0.0;
    std::string normalize = "none";  // none | standard | minmax
    AugmentSpec augment;
    SourceLoc path_loc, target_loc, features_loc;
};

// A layer option's value, as YAML gives it: a number, a flag, a name, a list of sizes, or pairs of them
// (zero_padding2d's [[top, bottom], [left, right]]).
using LayerValue =
    std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, std::vector<std::vector<int64_t>>>;

// What every layer has (type, name, inputs, location) and the layer's own options, which its definition
// (engine/model/layers/<type>.cpp, see spec/layer_def.h) reads, checks and fills in.
struct LayerSpec {
    std::string type;                 // a registered layer's canonical name: dense, conv2d, ...
    std::string name;                 // Keras-style default: dense, dense_1, ...
    std::vector<std::string> inputs;  // empty = the previous layer
    SourceLoc loc;
    // Every option of the layer with its default filled in, in the order the layer reads them, which is the
    // order render prints them.
    std::vector<std::pair<std::string, LayerValue>> options;

    bool has(const std::string & key) const;
    int64_t integer(const std::string & key) const;
    double number(const std::string & key) const;
    bool flag(const std::string & key) const;
    const std::string & text(const std::string & key) const;
    const std::vector<int64_t> & integers(const std::string & key) const;
    const std::vector<std::vector<int64_t>> & pairs(const std::string & key) const;
    void set(const std::string & key, LayerValue value);

private:
    const LayerValue & option(const std::string & key) const;
};

struct ModelSpec {
    std::vector<int64_t> input;
    std::vector<LayerSpec> layers;
    SourceLoc input_loc;
};

struct OptimizerSpec {
    std::string type = "adam";  // a registered optimizer (spec/optimizer_def.h): sgd, adam, adamw, ...
    double lr = 0.001;
    double momentum = 0.0;                                // sgd
    bool nesterov = false;                                // sgd
    double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;  // adam, adamw (Keras defaults)
    double rho = 0.9;                                     // rmsprop
    double initial_accumulator = 0.1;                     // adagrad
    double weight_decay = 0.0;  // decoupled for adamw, added to the gradient otherwise
};

struct ScheduleSpec {
    std::string type = "constant";     // a registered schedule (spec/schedule_def.h)
    double warmup_epochs = 0.0;        // linear warm-up from 0 in front of any schedule
    double step_epochs = 10.0;         // step
    double gamma = 0.1;                // step, exponential (per epoch)
    double min_lr = 0.0;               // cosine, reduce_on_plateau
    std::string monitor = "val_loss";  // reduce_on_plateau
    SourceLoc monitor_loc;
    double factor = 0.1;
    int64_t patience = 10;
    double min_delta = 1e-4;
};

struct ClipSpec {
    double global_norm = 0.0;  // 0 = off
    double value = 0.0;        // 0 = off
};

struct EarlyStoppingSpec {
    bool enabled = false;
    std::string monitor = "val_loss";
    SourceLoc loc, monitor_loc;
    int64_t patience = 10;
    double min_delta = 0.0;
    bool restore_best = false;
};

struct CheckpointSpec {
    int64_t every_epochs = 1;
    double min_interval_s = 10.0;
    int64_t keep_last = 0;   // also keep the last N epoch checkpoints under checkpoints/
    bool keep_best = false;  // also keep best.h5 by `monitor`
    std::string monitor = "val_loss";
    SourceLoc loc, monitor_loc;
};

struct LossSpec {
    std::string name = "mse";  // canonical: mse, mae, huber, binary_crossentropy, categorical_crossentropy,
                               // sparse_categorical_crossentropy
    double delta = 1.0;        // huber
    bool from_logits = false;  // the crossentropies
};

struct TrainSpec {
    LossSpec loss;
    std::vector<std::string> metrics;  // canonical names: accuracy, mae, mse
    OptimizerSpec optimizer;
    ScheduleSpec schedule;
    ClipSpec clip;
    EarlyStoppingSpec early_stopping;
    CheckpointSpec checkpoint;
    int64_t epochs = 1;
    int64_t batch_size = 32;
    int64_t steps_per_epoch = 0;  // 0 = the whole training split; else at most this many batches (as Keras)
    bool shuffle = true;
    bool deterministic = true;
    // The GPU's arithmetic for matmuls and convolutions: float32; tf32 (tensor cores, 10-bit mantissa
    // inputs); bf16 (bfloat16 inputs, float32 accumulation and float32 master weights). The CPU computes in
    // float32.
    std::string precision = "float32";
};

struct Spec {
    std::string file;  // as the user named it
    std::string name;
    uint64_t seed = 0;
    std::string device;  // cpu, cuda, cuda:N, auto; empty: cpu (--device wins)
    DataSpec data;
    ModelSpec model;
    TrainSpec train;
};

// Reads, validates and resolves a spec; `overrides` are KEY=VALUE (dotted paths, values parsed as YAML).
Spec load_spec(const std::string & path, const std::vector<std::string> & overrides = {});
// The same from text already in memory (tests, and resolved specs saved beside a model). An empty `base_dir`
// marks a saved spec: its data files are not checked, since a model is loaded where its data never was (an
// export served from an image).
Spec parse_spec(const std::string & yaml_text, const std::string & file_for_messages,
                const std::string & base_dir, const std::vector<std::string> & overrides = {});
std::string render_spec(const Spec & spec);

bool is_classification_loss(const std::string & loss);
// Did-you-mean: the closest candidate by edit distance, or "" when nothing is close.
std::string closest_match(const std::string & word, const std::vector<std::string> & candidates);

}  // namespace dl
