// An op lives in one file: engine/ops/<name>.cpp holds its shape inference, CPU kernel and gradient (written
// as graph ops), and registers itself under the name of its file:
//
//   // engine/ops/tanh.cpp — y = tanh(x); dy/dx = 1 - y^2
//   OutInfo infer(ShapeCtx & c) { return {c.in(0)}; }
//   void cpu(KernelCtx & k) { unary_map(k, [](float x) { return std::tanh(x); }); }
//   std::vector<Value> grad(GradCtx & g) { Value y = g.out(); return {g.dout() * (1.0f - y * y)}; }
//   DL_REGISTER_OP({.name = "tanh", .infer = infer, .cpu = cpu, .grad = grad,
//                   .test = {.cases = {{{7}}, {{3, 5}}}}});
//
// Composite ops give only `.expand` (a function of other ops); they have no kernel and no gradient rule.
// The registry is a function-local static: the engine is an OBJECT library, so no registrar is dropped.
// This interface and its registry (graph/op_registry.cpp) live with the graph, which infers shapes through
// them; the ops that implement it live in engine/ops/ and depend on the graph, never the other way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "graph/graph.h"

namespace dl {

struct OutInfo {
    Shape shape;
    DType dtype = DType::f32;
};

struct ShapeCtx {
    const Graph & graph;
    const Node & node;

    int num_inputs() const { return static_cast<int>(node.inputs.size()); }
    const Shape & in(int i) const { return graph.node(node.inputs[static_cast<size_t>(i)]).shape; }
    DType in_dtype(int i) const { return graph.node(node.inputs[static_cast<size_t>(i)]).dtype; }
    const Attrs & attrs() const { return node.attrs; }
    // A shape error in the user's model: reported at the YAML location of the layer that made this node.
    template <typename... Args>
    [[noreturn]] void fail(fmt::format_string<Args...> f, Args &&... args) const {
        throw Error(
            ExitCode::bad_input,
            format_at(node.loc, fmt::format("{}: {}", node.op, fmt::format(f, std::forward<Args>(args)...))));
    }
};

struct KernelCtx {
    const Node & node;
    std::vector<TensorView> inputs;
    TensorView output;
    ThreadPool & pool;
    uint64_t seed = 0;  // the run's seed, for random ops
    uint64_t step = 0;  // the optimizer step, for random ops
    // Scratch memory the op asked for through OpDef::workspace, shared by all kernels of the executor (they
    // run one at a time). Threads of the pool index it by ThreadPool::worker_index() when each needs its own
    // part.
    std::byte * workspace = nullptr;
    size_t workspace_bytes = 0;

    const TensorView & in(int i) const { return inputs[static_cast<size_t>(i)]; }
    TensorView & out() { return output; }
    const Attrs & attrs() const { return node.attrs; }
};

struct GradCtx {
    Graph & graph;
    int node_id;
    Value dout_;

    const Node & node() const { return graph.node(node_id); }
    Value in(int i) { return graph.value(node().inputs[static_cast<size_t>(i)]); }
    Value out() { return graph.value(node_id); }
    Value dout() const { return dout_; }
    const Attrs & attrs() const { return node().attrs; }
    Value op(const std::string & name, std::vector<Value> inputs, Attrs attrs = {}) {
        return graph.op(name, std::move(inputs), std::move(attrs));
    }
};

// What the registry-driven tests need to exercise an op.
struct OpTest {
    std::vector<std::vector<Shape>> cases;  // one shape per input, per case
    Attrs attrs;
    float low = -1.0f, high = 1.0f;  // range of random f32 inputs
    std::vector<int> class_inputs;   // input indices that hold int32 class labels in [0, classes)
    int64_t classes = 0;
    float kink = 0.0f;  // finite differences skip points within 1e-3 of this (relu at 0)
    bool has_kink = false;
    bool skip = false;  // op needs hand-written tests (placeholders, consts)
};

class OnnxCtx;  // ops/onnx_ctx.h

struct OpDef {
    const char * name = nullptr;
    int arity = 1;  // number of inputs; -1 = any number >= 1
    OutInfo (*infer)(ShapeCtx &) = nullptr;
    void (*cpu)(KernelCtx &) = nullptr;
    std::vector<Value> (*grad)(GradCtx &) = nullptr;
    Value (*expand)(Graph &, const std::vector<Value> &, const Attrs &) = nullptr;
    // Bytes of scratch memory the CPU kernel needs for this node with `threads` pool threads (im2col buffers,
    // per-chunk partial sums): allocated once with the executor, so the kernel never allocates.
    size_t (*workspace)(ShapeCtx &, int threads) = nullptr;
    OpTest test;
    bool random = false;  // output depends on (seed, step): never constant-folded
    bool leaf = false;    // input/param/const: no kernel, storage comes from outside the arena
    // A layer may name it as its activation (`activation: relu`): one input, an output of the same shape.
    bool activation = false;
    // The op in ONNX (`dlctl export`): adds ONNX nodes through the context and returns the name of the value
    // standing for the output. Without it, exporting a model that uses the op fails naming the layer.
    // See ops/onnx_ctx.h.
    std::string (*onnx)(OnnxCtx &) = nullptr;
    const char * file = "";  // filled in by DL_REGISTER_OP
};

bool register_op(OpDef def, const char * file);
const OpDef * find_op(const std::string & name);
std::vector<const OpDef *> all_ops();

}  // namespace dl

#define DL_CONCAT_INNER(a, b) a##b
#define DL_CONCAT(a, b) DL_CONCAT_INNER(a, b)
#define DL_REGISTER_OP(...)                                    \
    static const bool DL_CONCAT(dl_registered_op_, __LINE__) = \
        ::dl::register_op(::dl::OpDef __VA_ARGS__, __FILE__)
