// model.onnx: the prediction graph translated node by node through each op's OpDef::onnx hook
// (ops/onnx_ctx.h), with the input's rescaling and normalisation in front (as Predictor applies them) and the
// names of model/bundle.h on the inputs and outputs.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <set>

#include "core/version.h"
#include "export/export.h"
#include "ops/onnx_ctx.h"

namespace dl {

namespace {

constexpr int64_t kOpset = 17;     // the newest opset Debian's libonnx 1.12 knows
constexpr int64_t kIrVersion = 8;  // the IR version of opset 17
constexpr const char * kBatch = "batch";
constexpr const char * kLabelsName = "labels";  // the class names, a string initializer

void set_type(onnx::ValueInfoProto & v, const std::string & name, OnnxType type, const Shape & shape,
              bool batched) {
    v.set_name(name);
    onnx::TypeProto_Tensor * t = v.mutable_type()->mutable_tensor_type();
    t->set_elem_type(static_cast<int32_t>(type));
    onnx::TensorShapeProto * s = t->mutable_shape();
    for (int d = 0; d < shape.rank(); ++d) {
        onnx::TensorShapeProto_Dimension * dim = s->add_dim();
        if (d == 0 && batched)
            dim->set_dim_param(kBatch);
        else
            dim->set_dim_value(shape[d]);
    }
}

void set_attribute(onnx::AttributeProto & a, const std::string & key, const AttrValue & value) {
    a.set_name(key);
    if (const auto * i = std::get_if<int64_t>(&value)) {
        a.set_type(onnx::AttributeProto::INT);
        a.set_i(*i);
    } else if (const auto * f = std::get_if<double>(&value)) {
        a.set_type(onnx::AttributeProto::FLOAT);
        a.set_f(static_cast<float>(*f));
    } else if (const auto * s = std::get_if<std::string>(&value)) {
        a.set_type(onnx::AttributeProto::STRING);
        a.set_s(*s);
    } else {
        a.set_type(onnx::AttributeProto::INTS);
        for (int64_t v : std::get<std::vector<int64_t>>(value)) a.add_ints(v);
    }
}

// The OnnxCtx the op hooks write through. Nodes are translated in graph order; parameters and constants
// become initializers when a hook first asks for them, so a constant a hook converts itself is not written
// twice.
class ProtoCtx final : public OnnxCtx {
public:
    ProtoCtx(const Graph & g, const ParamStore & params, onnx::GraphProto & proto)
        : graph_(g),
          params_(params),
          proto_(proto),
          names_(g.nodes().size()),
          batched_(g.nodes().size(), false) {
        // Axis 0 is the batch in every value that depends on the model's input.
        for (const Node & n : g.nodes()) {
            bool b = n.op == "input";
            for (int in : n.inputs) b = b || batched_[static_cast<size_t>(in)];
            batched_[static_cast<size_t>(n.id)] = b;
        }
    }

    void bind_feed(const std::string & name, const std::string & value) { feeds_[name] = value; }
    // Keeps generated names off one the exporter gives itself (the graph's inputs and outputs).
    void reserve(const std::string & name) { taken_.insert(name); }
    bool value_batched(int id) const { return batched_[static_cast<size_t>(id)]; }

    // Translates every node `id` depends on, then `id`; returns the ONNX value standing for it.
    std::string translate(int id) {
        std::vector<bool> needed(graph_.nodes().size(), false);
        needed[static_cast<size_t>(id)] = true;
        for (int i = id; i >= 0; --i)  // inputs precede their consumers
            if (needed[static_cast<size_t>(i)])
                for (int in : graph_.node(i).inputs) needed[static_cast<size_t>(in)] = true;
        for (int i = 0; i <= id; ++i) {
            const Node & n = graph_.node(i);
            if (needed[static_cast<size_t>(i)] && !n.def->leaf) value_of(i);
        }
        return value_of(id);
    }

    // Adds a node whose output gets the given name (the graph's outputs).
    std::string add_named(const std::string & op_type, const std::vector<std::string> & inputs,
                          const Attrs & attrs, const std::string & out) {
        onnx::NodeProto * p = proto_.add_node();
        p->set_op_type(op_type);
        p->set_name(out);
        for (const std::string & in : inputs) p->add_input(in);
        p->add_output(out);
        if (current_ >= 0 && node().loc.known()) {
            const SourceLoc & loc = node().loc;
            p->set_doc_string(fmt::format("{}:{}:{} ({})", loc.file, loc.line, loc.col, node().op));
        }
        for (const auto & [key, value] : attrs.all()) set_attribute(*p->add_attribute(), key, value);
        return out;
    }

    // Names of what the exporter adds outside any node (the normalisation, the outputs).
    void set_scope(const std::string & tag) {
        tag_ = tag;
        count_ = 0;
    }

    const Node & node() const override {
        DL_ASSERT(current_ >= 0);
        return graph_.node(current_);
    }
    std::string in(int i) override { return value_of(input_id(i)); }
    const Shape & in_shape(int i) const override { return graph_.node(input_id(i)).shape; }
    DType in_dtype(int i) const override { return graph_.node(input_id(i)).dtype; }
    const Tensor * in_value(int i) const override { return value_in(input_id(i)); }
    bool batched(int i) const override { return batched_[static_cast<size_t>(input_id(i))]; }

    std::string add(const std::string & op_type, std::vector<std::string> inputs,
                    const Attrs & attrs) override {
        return add_named(op_type, inputs, attrs, fresh_name());
    }

    std::string initializer(const Tensor & t, const std::string & name) override {
        std::string unique = name;
        if (unique.empty() || !taken_.insert(unique).second) unique = fresh_name();
        onnx::TensorProto * p = proto_.add_initializer();
        p->set_name(unique);
        p->set_data_type(static_cast<int32_t>(onnx_type(t.dtype())));
        for (int64_t d : t.shape().dims) p->add_dims(d);
        p->set_raw_data(t.empty() ? std::string()
                                  : std::string(reinterpret_cast<const char *>(t.f32()), t.bytes()));
        return unique;
    }

    std::string ints(const std::vector<int64_t> & values) override {
        Tensor t(Shape{static_cast<int64_t>(values.size())}, DType::i64);
        if (!values.empty()) std::memcpy(t.f32(), values.data(), t.bytes());
        return initializer(t, {});
    }

    std::string feed(const std::string & name) override {
        const auto it = feeds_.find(name);
        if (it == feeds_.end())
            fail(fmt::format("reads the graph input '{}', which the exported model does not have", name));
        return it->second;
    }

    const Tensor & own_value() const override {
        const Tensor * t = value_in(current_);
        DL_ASSERT(t != nullptr);
        return *t;
    }

private:
    int input_id(int i) const { return node().inputs[static_cast<size_t>(i)]; }

    const Tensor * value_in(int id) const {
        const Node & n = graph_.node(id);
        if (n.op == "param") return &params_.at(n.name);
        if (n.op == "const") return n.value.get();
        return nullptr;
    }

    std::string fresh_name() {
        std::string name;
        do {
            name = count_ == 0 ? tag_ : fmt::format("{}_{}", tag_, count_);
            ++count_;
        } while (taken_.count(name) != 0);
        taken_.insert(name);
        return name;
    }

    std::string value_of(int id) {
        std::string & name = names_[static_cast<size_t>(id)];
        if (!name.empty()) return name;
        const Node & n = graph_.node(id);
        if (n.def->onnx == nullptr) {
            const std::string what =
                fmt::format("op '{}' has no ONNX form: this model cannot be exported to ONNX", n.op);
            throw Error(ExitCode::bad_input, n.loc.known() ? format_at(n.loc, what) : what);
        }
        // A hook may ask for a constant input, which emits that leaf: the caller's naming scope comes back
        // after.
        const int saved = current_;
        const std::string saved_tag = tag_;
        const int saved_count = count_;
        current_ = id;
        set_scope(n.op == "param" ? n.name : fmt::format("{}_{}", n.op, id));
        std::string value = n.def->onnx(*this);
        current_ = saved;
        tag_ = saved_tag;
        count_ = saved_count;
        names_[static_cast<size_t>(id)] = value;
        return value;
    }

    const Graph & graph_;
    const ParamStore & params_;
    onnx::GraphProto & proto_;
    std::vector<std::string> names_;  // per node id: its ONNX value, once translated
    std::vector<bool> batched_;       // per node id
    std::map<std::string, std::string> feeds_;
    std::set<std::string> taken_;  // value names in use
    int current_ = -1;             // the node whose hook runs
    std::string tag_ = "node";
    int count_ = 0;
};

void add_metadata(onnx::ModelProto & m, const std::string & key, const std::string & value) {
    onnx::StringStringEntryProto * e = m.add_metadata_props();
    e->set_key(key);
    e->set_value(value);
}

// ONNX's own checks: the model's structure (checker) and shape inference with type checks in strict mode,
// what Python's onnx.checker.check_model(full_check=True) runs.
void check(const onnx::ModelProto & m) {
    try {
        onnx::checker::check_model(m);
        onnx::ModelProto inferred = m;
        onnx::shape_inference::InferShapes(
            inferred, onnx::OpSchemaRegistry::Instance(),
            onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
    } catch (const std::exception & e) {
        throw Error(ExitCode::internal,
                    fmt::format("the exported ONNX model fails ONNX's checker: {}", e.what()));
    }
}

}  // namespace

std::string onnx_model_bytes(const TrainedModel & model) {
    ParamStore params = model.params;
    const Graph g = build_model_graph(model.spec, model.info, /*batch=*/1, GraphMode::predict, params);
    const std::vector<int64_t> & sample = model.info.sample_shape;
    const std::vector<std::string> outputs = output_names(model);

    onnx::ModelProto m;
    m.set_ir_version(kIrVersion);
    m.set_producer_name("dlctl");
    m.set_producer_version(DLCTL_VERSION);
    m.set_model_version(model.run.version);
    m.set_doc_string(
        fmt::format("{} version {}, exported by dlctl {}", model.run.name, model.run.version, DLCTL_VERSION));
    onnx::OperatorSetIdProto * opset = m.add_opset_import();
    opset->set_domain("");
    opset->set_version(kOpset);
    onnx::GraphProto & graph = *m.mutable_graph();
    graph.set_name(model.run.name);
    ProtoCtx ctx(g, params, graph);
    for (const std::string & name : outputs) ctx.reserve(name);
    ctx.reserve(kInputName);
    ctx.reserve(kLabelsName);

    Shape in_shape{1};
    in_shape.dims.insert(in_shape.dims.end(), sample.begin(), sample.end());
    set_type(*graph.add_input(), kInputName, OnnxType::f32, in_shape, true);

    // The input as Predictor feeds the graph: x * data.rescale, then (x - offset) / scale, in float; then the
    // model's own input shape.
    ctx.set_scope("normalized");
    std::string x = kInputName;
    if (model.spec.data.rescale != 1.0) {
        Tensor rescale{Shape{}};
        rescale.f32()[0] = static_cast<float>(model.spec.data.rescale);
        x = ctx.add("Mul", {x, ctx.initializer(rescale, "rescale")}, {});
    }
    const Normalizer & norm = model.normalizer;
    if (norm.method != "none") {
        const size_t features = static_cast<size_t>(model.info.features);
        if (norm.offset.size() != features || norm.scale.size() != features)
            throw Error(ExitCode::internal,
                        fmt::format("normalisation has {} offsets and {} scales for {} features",
                                    norm.offset.size(), norm.scale.size(), features));
        Tensor offset{Shape(sample)}, scale{Shape(sample)};
        std::copy(norm.offset.begin(), norm.offset.end(), offset.f32());
        std::copy(norm.scale.begin(), norm.scale.end(), scale.f32());
        x = ctx.add("Sub", {x, ctx.initializer(offset, "normalization/offset")}, {});
        x = ctx.add("Div", {x, ctx.initializer(scale, "normalization/scale")}, {});
    }
    if (model.spec.model.input != sample) {  // [28, 28] images for a [28, 28, 1] or [784] model input
        std::vector<int64_t> shape = {0};
        shape.insert(shape.end(), model.spec.model.input.begin(), model.spec.model.input.end());
        x = ctx.add("Reshape", {x, ctx.ints(shape)}, {});
    }
    ctx.bind_feed("x", x);

    const int prediction = g.outputs().at("prediction");
    const std::string y = ctx.translate(prediction);
    const Node & out = g.node(prediction);
    ctx.set_scope("output");
    ctx.add_named("Identity", {y}, {}, outputs[0]);
    set_type(*graph.add_output(), outputs[0], OnnxType::f32, out.shape, ctx.value_batched(prediction));
    if (model.info.classification) {
        // label = classes[argmax(probabilities)], the names as a string initializer.
        const int64_t classes = out.shape.rank() == 2 ? out.shape[1] : -1;
        if (classes != static_cast<int64_t>(model.classes.size()))
            throw Error(ExitCode::internal,
                        fmt::format("the model predicts {} as {} classes but has {} class names",
                                    to_string(out.shape), classes, model.classes.size()));
        onnx::TensorProto * names = graph.add_initializer();
        names->set_name(kLabelsName);
        names->set_data_type(static_cast<int32_t>(OnnxType::string));
        names->add_dims(classes);
        for (const std::string & c : model.classes) names->add_string_data(c);
        const std::string index =
            ctx.add("ArgMax", {outputs[0]}, {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}});
        ctx.add_named("Gather", {kLabelsName, index}, {{"axis", int64_t{0}}}, outputs[1]);
        set_type(*graph.add_output(), outputs[1], OnnxType::string, Shape{1}, true);
    }

    add_metadata(m, "dlctl_version", DLCTL_VERSION);
    add_metadata(m, "name", model.run.name);
    add_metadata(m, "version", std::to_string(model.run.version));
    add_metadata(m, "features", nlohmann::json(model.features).dump());
    add_metadata(m, "targets", nlohmann::json(model.targets).dump());
    if (model.info.classification) add_metadata(m, "labels", nlohmann::json(model.classes).dump());
    add_metadata(m, "rescale", fmt::format("{}", model.spec.data.rescale));
    add_metadata(m, "normalization", norm.method);
    check(m);
    return m.SerializeAsString();
}

}  // namespace dl
