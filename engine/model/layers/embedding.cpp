// embedding: integer ids -> rows of a trained table, as Keras' Embedding.
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.require("input_dim");
    r.require("output_dim");
    r.integer("input_dim", 1, in_range(1, kMaxExtent));
    r.integer("output_dim", 1, in_range(1, kMaxExtent));
}

void build(LayerBuild & b) {
    const int64_t input_dim = b.layer.integer("input_dim"), output_dim = b.layer.integer("output_dim");
    Value ids = b.g.op("cast", {b.in()}, {{"dtype", std::string("i32")}});
    Value table = b.param("embeddings", Shape{input_dim, output_dim}, "uniform_0.05", input_dim, output_dim);
    b.out = b.g.op("embedding", {table, ids});
}

void keras(KerasLayerWriter & k) {
    const LayerSpec & l = k.layer();
    k.add("Embedding", {{"input_dim", l.integer("input_dim")}, {"output_dim", l.integer("output_dim")}},
          {k.weight("embeddings")});
}

DL_REGISTER_LAYER({.type = "embedding",
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {5}, .options = "{input_dim: 10, output_dim: 3}"}});

}  // namespace
}  // namespace dl
