// concat: inputs joined along a feature axis, as Keras' Concatenate.
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void read(LayerReader & r) { r.integer("axis", -1, in_range(-8, 8)); }

void build(LayerBuild & b) {
    if (b.inputs.size() < 2) b.fail("needs at least two inputs (inputs: [a, b])");
    const std::vector<std::string> & names = b.layer.inputs;
    const int64_t axis_given = b.layer.integer("axis");
    const Shape first = b.inputs[0].shape();
    const int axis = normalize_axis(axis_given, first.rank());
    if (axis <= 0) b.fail(fmt::format("axis {} is not a feature axis of {}", axis_given, shape_text(first)));
    for (size_t i = 1; i < b.inputs.size(); ++i) {
        Shape other = b.inputs[i].shape(), a = first;
        bool fits = other.rank() == a.rank();
        if (fits) {
            other[axis] = a[axis] = 0;
            fits = other == a;
        }
        if (!fits)
            b.fail(fmt::format("inputs '{}' {} and '{}' {} cannot be joined along axis {}", names[0],
                               shape_text(first), names[i], shape_text(b.inputs[i].shape()), axis_given),
                   "concat needs the same rank and equal sizes on every other axis");
    }
    b.out = b.g.op("concat", b.inputs, {{"axis", axis_given}});
}

void keras(KerasLayerWriter & k) { k.add("Concatenate", {{"axis", k.layer().integer("axis")}}); }

DL_REGISTER_LAYER(
    {.type = "concat",
     .read = read,
     .build = build,
     .keras = keras,
     .min_inputs = 2,
     .test = {.options = "{inputs: [a, b]}",
              .before = "- dense: {name: a, units: 3}\n- dense: {name: b, units: 2, inputs: [input]}"}});

}  // namespace
}  // namespace dl
