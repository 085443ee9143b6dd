// The structure of model.onnx (its numbers against onnxruntime are tests/cli/test_export_onnx.sh's): ONNX's
// checker passes in-process, opset 17, model/bundle.h's input and output names with a dynamic batch axis, the
// normalisation in front, "same" padding as explicit pads, filters converted to OIHW, no unused initializers,
// no literal batch size, and every op in the prediction graphs of the shipped configs has an ONNX form.
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <map>
#include <set>

#include "export/export.h"
#include "graph/op.h"
#include "model/model.h"
#include "spec/spec.h"

namespace {
using namespace dl;

TrainedModel trained(Spec spec, const std::vector<int64_t> & sample_shape) {
    TrainedModel m;
    m.run = {.name = spec.name, .version = 3};
    m.spec = std::move(spec);
    // The output's width, from the prediction graph, which also creates and initialises the parameters.
    const DataInfo probe = data_info_for(m.spec, sample_shape, 1, 1);
    const Graph g = build_model_graph(m.spec, probe, 1, GraphMode::predict, m.params);
    const int64_t width = g.node(g.outputs().at("prediction")).shape[1];
    m.info = data_info_for(m.spec, sample_shape, probe.classification ? 0 : width,
                           probe.classification ? width : 0);
    for (int64_t i = 0; i < width; ++i)
        (probe.classification ? m.classes : m.targets).push_back(fmt::format("c{}", i));
    return m;
}

onnx::ModelProto exported(const TrainedModel & m) {
    onnx::ModelProto proto;
    REQUIRE(proto.ParseFromString(onnx_model_bytes(m)));
    return proto;
}

std::vector<std::string> dims(const onnx::ValueInfoProto & v) {
    std::vector<std::string> out;
    for (const auto & d : v.type().tensor_type().shape().dim())
        out.push_back(d.has_dim_param() ? d.dim_param() : std::to_string(d.dim_value()));
    return out;
}

const onnx::NodeProto & only_node(const onnx::GraphProto & g, const std::string & op_type) {
    const onnx::NodeProto * found = nullptr;
    for (const auto & n : g.node())
        if (n.op_type() == op_type) {
            REQUIRE(found == nullptr);
            found = &n;
        }
    REQUIRE(found != nullptr);
    return *found;
}

std::vector<int64_t> ints_attr(const onnx::NodeProto & n, const std::string & key) {
    for (const auto & a : n.attribute())
        if (a.name() == key) return {a.ints().begin(), a.ints().end()};
    FAIL("no attribute " << key << " on " << n.op_type());
    return {};
}

Spec small_cnn() {
    return parse_spec(R"(
name: small_cnn
data: {path: datasets/housing.csv, target: MEDV, rescale: 0.5}
model:
  input: [6, 5, 1]
  layers:
    - conv2d: {name: c1, filters: 4, kernel_size: 3, strides: 2, padding: same, activation: relu}
    - batch_norm: {name: bn}
    - max_pool2d: {pool_size: 2, strides: 1, padding: same}
    - flatten: {}
    - dropout: {rate: 0.5}
    - dense: {units: 3, activation: softmax}
train: {loss: sparse_categorical_crossentropy}
)",
                      "small.yaml", DLCTL_SOURCE_DIR);
}

TEST_CASE(
    "onnx export: a small CNN classifier has the shared names, opset 17, a dynamic batch and explicit pads") {
    TrainedModel m = trained(small_cnn(), {6, 5});
    m.classes = {"cat", "dog", "bird"};
    m.normalizer.method = "standard";
    for (int i = 0; i < 30; ++i) {
        m.normalizer.offset.push_back(static_cast<float>(i));
        m.normalizer.scale.push_back(2.0f);
    }
    const onnx::ModelProto proto = exported(m);
    CHECK(proto.ir_version() == 8);
    REQUIRE(proto.opset_import_size() == 1);
    CHECK(proto.opset_import(0).domain().empty());
    CHECK(proto.opset_import(0).version() == 17);
    CHECK(proto.producer_name() == "dlctl");
    const onnx::GraphProto & g = proto.graph();

    REQUIRE(g.input_size() == 1);
    CHECK(g.input(0).name() == kInputName);
    CHECK(dims(g.input(0)) == std::vector<std::string>{"batch", "6", "5"});
    REQUIRE(g.output_size() == 2);
    CHECK(g.output(0).name() == "probabilities");
    CHECK(dims(g.output(0)) == std::vector<std::string>{"batch", "3"});
    CHECK(g.output(0).type().tensor_type().elem_type() == onnx::TensorProto::FLOAT);
    CHECK(g.output(1).name() == "label");
    CHECK(dims(g.output(1)) == std::vector<std::string>{"batch"});
    CHECK(g.output(1).type().tensor_type().elem_type() == onnx::TensorProto::STRING);

    // x * rescale, then (x - offset) / scale, straight from the input.
    CHECK(g.node(0).op_type() == "Mul");
    CHECK(g.node(0).input(0) == kInputName);
    CHECK(g.node(1).op_type() == "Sub");
    CHECK(g.node(2).op_type() == "Div");

    // 6x5 by 3x3 with stride 2, "same": 3x3 out, the odd padding row at the bottom (TensorFlow's rule).
    const onnx::NodeProto & conv = only_node(g, "Conv");
    CHECK(ints_attr(conv, "pads") == std::vector<int64_t>{0, 1, 1, 1});
    CHECK(ints_attr(conv, "strides") == std::vector<int64_t>{2, 2});
    CHECK(ints_attr(only_node(g, "MaxPool"), "pads") == std::vector<int64_t>{0, 0, 1, 1});
    for (const auto & n : g.node())  // back to channels last right after the Conv
        if (n.input_size() > 0 && n.input(0) == conv.output(0)) {
            CHECK(n.op_type() == "Transpose");
            CHECK(ints_attr(n, "perm") == std::vector<int64_t>{0, 2, 3, 1});
        }

    std::map<std::string, const onnx::TensorProto *> inits;
    for (const auto & t : g.initializer()) inits[t.name()] = &t;
    REQUIRE(inits.count(conv.input(1)) == 1);
    const onnx::TensorProto & filter = *inits.at(conv.input(1));
    CHECK(std::vector<int64_t>(filter.dims().begin(), filter.dims().end()) ==
          std::vector<int64_t>{4, 1, 3, 3});
    // The filter in OIHW: element [o, 0, y, x] is the parameter's [y, x, 0, o].
    const Tensor & hwio = m.params.at("c1/kernel");
    const auto * oihw = reinterpret_cast<const float *>(filter.raw_data().data());
    CHECK(oihw[(2 * 3 + 1) * 3 + 0] == hwio.f32()[(1 * 3 + 0) * 4 + 2]);

    // Every initializer is used (the HWIO filter is never written); the batch size is never a literal.
    std::set<std::string> used;
    for (const auto & n : g.node()) used.insert(n.input().begin(), n.input().end());
    for (const auto & [name, t] : inits) CHECK_MESSAGE(used.count(name) == 1, name << " is unused");
    CHECK(inits.count("c1/kernel") == 0);
    for (const auto & n : g.node())
        if (n.op_type() == "Reshape") {
            const onnx::TensorProto & shape = *inits.at(n.input(1));
            CHECK(reinterpret_cast<const int64_t *>(shape.raw_data().data())[0] == 0);
        }
    CHECK(only_node(g, "Gather").output(0) == "label");

    std::map<std::string, std::string> meta;
    for (const auto & e : proto.metadata_props()) meta[e.key()] = e.value();
    CHECK(meta["labels"] == R"(["cat","dog","bird"])");
    CHECK(meta["name"] == "small_cnn");
    CHECK(meta["version"] == "3");
    CHECK(meta.count("dlctl_version") == 1);
}

TEST_CASE(
    "onnx export: every shipped config exports, and every op of its prediction graph has an ONNX form") {
    int count = 0;
    for (const auto & entry :
         std::filesystem::directory_iterator(std::string(DLCTL_SOURCE_DIR) + "/configs")) {
        if (entry.path().extension() != ".yaml") continue;
        CAPTURE(entry.path().string());
        const Spec spec = load_spec(entry.path().string());
        std::vector<int64_t> sample = spec.model.input;
        if (sample.size() == 3 && sample[2] == 1) sample.pop_back();  // images come as [h, w]
        const TrainedModel m = trained(spec, sample);
        ParamStore params = m.params;
        const Graph g = build_model_graph(m.spec, m.info, 1, GraphMode::predict, params);
        for (const Node & n : g.nodes())
            CHECK_MESSAGE(static_cast<bool>(n.def->onnx), n.op << " has no ONNX form");
        const onnx::ModelProto proto = exported(m);
        CHECK(proto.graph().output(0).name() == output_names(m)[0]);
        ++count;
    }
    CHECK(count >= 5);
}

TEST_CASE("onnx export: an op without an ONNX form is an error naming the op and the layer's line") {
    auto * softmax = const_cast<OpDef *>(find_op("softmax"));
    struct Restore {
        OpDef * def;
        decltype(OpDef::onnx) hook;
        ~Restore() { def->onnx = hook; }
    } restore{softmax, softmax->onnx};
    softmax->onnx = nullptr;
    TrainedModel m = trained(small_cnn(), {6, 5});
    m.classes = {"a", "b", "c"};
    try {
        onnx_model_bytes(m);
        FAIL("exported without a softmax hook");
    } catch (const Error & e) {
        CHECK(e.code() == ExitCode::bad_input);
        const std::string what = e.what();
        CHECK(what.find("'softmax' has no ONNX form") != std::string::npos);
        CHECK(what.find("small.yaml:12:") != std::string::npos);
    }
}

}  // namespace
