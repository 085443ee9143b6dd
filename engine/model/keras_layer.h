// What a layer's keras function (spec/layer_def.h) works with when `dlctl export` writes model.h5: the layer,
// its trained parameters, and a writer that appends Keras layers (export/keras_export.cpp implements it).
//   void keras(KerasLayerWriter & k) {                  // engine/model/layers/dense.cpp
//       k.add_weighted("Dense", {{"units", k.layer().integer("units")}}, {k.weight("kernel")});
//   }
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "spec/spec.h"

namespace dl {

struct KerasWeight {
    std::string name;  // "kernel", "bias", ...: the dataset is "<layer>/<name>:0"
    std::vector<int64_t> dims;
    std::vector<float> values;
    std::optional<int64_t> count;  // Normalization's int64 scalar `count` instead of float values
};

class KerasLayerWriter {
public:
    using Json = nlohmann::ordered_json;
    virtual ~KerasLayerWriter() = default;

    virtual const LayerSpec & layer() const = 0;
    // Adds the Keras layer standing for the spec layer, under its name, called on the layer's inputs.
    // `weights` in the loader's order (Note [keras weight order] in export/keras_export.cpp).
    virtual void add(const std::string & class_name, Json config, std::vector<KerasWeight> weights = {}) = 0;
    // Dense and the convolutions: use_bias and the bias, and the activation: inside the layer when Keras has
    // it, else as layers after it.
    virtual void add_weighted(const std::string & class_name, Json config,
                              std::vector<KerasWeight> weights) = 0;
    // The layer is this activation alone.
    virtual void add_activation(const std::string & activation) = 0;
    // The trained parameter <layer>/<param> as a Keras weight named `name`, in its own shape.
    virtual KerasWeight weight(const std::string & name, const std::string & param) const = 0;
    KerasWeight weight(const std::string & name) const { return weight(name, name); }
    [[noreturn]] virtual void unsupported(const std::string & why) const = 0;

    // [height, width] as Keras' configs spell pairs.
    static Json pair(const std::vector<int64_t> & v) { return Json::array({v[0], v[1]}); }
};

}  // namespace dl
