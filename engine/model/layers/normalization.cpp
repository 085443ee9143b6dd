#include "model/layers/normalization.h"

namespace dl {

void read_epsilon_center_scale(LayerReader & r) {
    r.number("epsilon", 1e-3, positive_finite());
    r.flag("center", true);
    r.flag("scale", true);
}

std::pair<Value, Value> build_gamma_beta(LayerBuild & b) {
    const Shape s = b.in().shape();
    const int64_t c = s[s.rank() - 1];
    Value gamma = b.layer.flag("scale") ? b.param("gamma", Shape{c}, "ones", c, c) : b.filled(c, 1.0f);
    Value beta = b.layer.flag("center") ? b.param("beta", Shape{c}, "zeros", c, c) : b.filled(c, 0.0f);
    return {gamma, beta};
}

std::vector<KerasWeight> keras_gamma_beta(const KerasLayerWriter & k) {
    std::vector<KerasWeight> weights;
    if (k.layer().flag("scale")) weights.push_back(k.weight("gamma"));
    if (k.layer().flag("center")) weights.push_back(k.weight("beta"));
    return weights;
}

}  // namespace dl
