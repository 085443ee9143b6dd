// What a layer's build function (spec/layer_def.h) works with: its input values, the graph, where its
// parameters go, and what it hands back to the model: its output and, for the loss to fuse, the value before
// its activation.
//   void build(LayerBuild & b) {                       // engine/model/layers/dense.cpp
//       Value w = b.param("kernel", Shape{features, units}, b.layer.text("kernel_initializer"), ...);
//       b.weighted_output(b.g.op("matmul", {b.in(), w}), w, units, fan_in, fan_out);
//   }
#pragma once

#include <set>
#include <string>
#include <vector>

#include "exec/executor.h"
#include "model/model.h"
#include "spec/layer_def.h"

namespace dl {

// Where the parameters go: the store (created and initialised the first time a name is seen), or nowhere when
// only the shapes and sizes are wanted (check_model: `validate` must not allocate what it is checking).
struct ParamSink {
    ParamStore * store = nullptr;
    std::set<std::string> trainable;  // by name; ParamStore::trainable is a linear search
    int64_t values = 0;
    const LayerSpec * layer = nullptr;  // for messages

    Value make(Graph & g, const std::string & name, Shape shape, const std::string & init, uint64_t seed,
               int64_t fan_in, int64_t fan_out, bool is_trainable = true);
    Value filled(Graph & g, int64_t n, float value);
};

struct LayerBuild {
    Graph & g;
    const LayerSpec & layer;
    const Spec & spec;
    GraphMode mode;
    int64_t batch;
    std::vector<Value> inputs;  // the layers named in `inputs`, else the previous one: at least one
    ParamSink & sink;
    Value & regularization;  // the sum of the layers' penalties, added to the training loss

    // Set by the layer's build:
    Value out;
    Value pre;  // the output before `activation`, which the loss may fuse (softmax + crossentropy)
    std::string activation = "linear";

    Value in() const { return inputs[0]; }
    bool training() const { return mode == GraphMode::train; }
    // The parameter <layer>/<what>, created and initialised (`init`, with Keras' fans) the first time.
    Value param(const std::string & what, Shape shape, const std::string & init, int64_t fan_in,
                int64_t fan_out, bool trainable = true);
    // A constant vector of n values (a norm without scale or center).
    Value filled(int64_t n, float value) { return sink.filled(g, n, value); }
    // Adds a penalty to the training loss.
    void regularize(Value term);
    // pre = before, activation = name, out = name(before) (`linear`: before itself).
    void activate(Value before, const std::string & name);
    // Dense and the convolutions: the bias (use_bias, bias_initializer), the l1/l2 penalties on the kernel,
    // then the activation.
    void weighted_output(Value product, Value kernel, int64_t units, int64_t fan_in, int64_t fan_out);
    // The input as [batch, height, width, channels], or a located error; returns the channels.
    int64_t image_input(const std::string & note = {}) const;
    // An error at the layer's YAML line, naming it (bad_input: the spec is at fault).
    [[noreturn]] void fail(const std::string & message, const std::string & note = {}) const;
    // An output (or a shape about to be computed) within kMaxTensorValues, batch included.
    void check_output(const Shape & s) const;
};

// What a loss's build function (spec/loss_def.h) works with: the model's prediction and the targets, which
// the model has checked against the data (shapes, classes); it sets `loss`, a scalar.
struct LossBuild {
    Graph & g;
    const LossSpec & spec;
    const DataInfo & info;
    const LayerSpec & last;  // the output layer, where errors point
    Value prediction;        // [batch, units]
    Value logits;            // the output before the last layer's activation, when it has one
    const std::string & last_activation;
    Value y;  // [batch] int32 class labels (LossDef::classification), else [batch, targets]
    Value loss;

    // The crossentropies take logits: the prediction when from_logits, else the output before a softmax,
    // fused with it for stability as Keras does; a located error for any other activation.
    Value class_logits() const;
    [[noreturn]] void fail(const std::string & message, const std::string & note = {}) const;
};

// A shape as users think of it: the batch axis by name, since its size depends on where the graph is built.
std::string shape_text(const Shape & s);
[[noreturn]] void layer_error(const LayerSpec & l, const std::string & message,
                              const std::string & note = {});
// a * b and sizes, saturating at INT64_MAX: compared against the limits without wrapping around.
int64_t mul_saturated(int64_t a, int64_t b);
int64_t add_saturated(int64_t a, int64_t b);
int64_t values_of(const std::vector<int64_t> & dims);
std::string gigabytes(int64_t values);

}  // namespace dl
