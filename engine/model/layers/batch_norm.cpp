// batch_norm: normalisation over the batch, with moving averages for inference, as Keras'
// BatchNormalization.
#include "model/layers/normalization.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.number("momentum", 0.99, in_unit_interval_open_right());
    read_epsilon_center_scale(r);
}

void build(LayerBuild & b) {
    auto [gamma, beta] = build_gamma_beta(b);
    const Shape s = b.in().shape();
    const int64_t c = s[s.rank() - 1];
    const Attrs eps = {{"epsilon", b.layer.number("epsilon")}};
    Value mean = b.param("moving_mean", Shape{c}, "zeros", c, c, false);
    Value var = b.param("moving_variance", Shape{c}, "ones", c, c, false);
    if (!b.training()) {
        b.out = b.g.op("batch_norm", {b.in(), gamma, beta, mean, var}, eps);
        return;
    }
    // Training normalises with the batch's statistics and moves the averages towards them, as Keras.
    b.out = b.g.op("batch_norm_train", {b.in(), gamma, beta}, eps);
    Value stats = b.g.op("moments", {b.in()});
    auto row = [&](int64_t r) {
        Value v = b.g.op("slice", {stats},
                         {{"begin", std::vector<int64_t>{r, 0}}, {"size", std::vector<int64_t>{1, c}}});
        return b.g.op("reshape", {v}, {{"shape", std::vector<int64_t>{c}}});
    };
    const float m = static_cast<float>(b.layer.number("momentum"));
    const std::string & name = b.layer.name;
    b.g.mark_output("update/" + name + "/moving_mean", mean * m + row(0) * (1.0f - m));
    b.g.mark_output("update/" + name + "/moving_variance", var * m + row(1) * (1.0f - m));
}

void keras(KerasLayerWriter & k) {
    const LayerSpec & l = k.layer();
    std::vector<KerasWeight> weights = keras_gamma_beta(k);
    weights.push_back(k.weight("moving_mean"));
    weights.push_back(k.weight("moving_variance"));
    k.add("BatchNormalization",
          {{"axis", -1},
           {"momentum", l.number("momentum")},
           {"epsilon", l.number("epsilon")},
           {"center", l.flag("center")},
           {"scale", l.flag("scale")}},
          std::move(weights));
}

DL_REGISTER_LAYER({.type = "batch_norm",
                   .aliases = {"batch_normalization"},
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.options = "{momentum: 0.9, center: false}"}});

}  // namespace
}  // namespace dl
