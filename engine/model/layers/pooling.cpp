#include "model/layers/pooling.h"

namespace dl {

void read_pooling(LayerReader & r) {
    const std::vector<int64_t> pool = r.size_pair("pool_size", {2, 2});
    r.size_pair("strides", pool);
    r.padding();
}

void build_pooling(LayerBuild & b, const char * op) {
    b.image_input();
    const LayerSpec & l = b.layer;
    b.out = b.g.op(op, {b.in()},
                   {{"pool", l.integers("pool_size")},
                    {"strides", l.integers("strides")},
                    {"padding", l.text("padding")}});
}

void keras_pooling(KerasLayerWriter & k, const char * class_name) {
    const LayerSpec & l = k.layer();
    k.add(class_name, {{"pool_size", KerasLayerWriter::pair(l.integers("pool_size"))},
                       {"strides", KerasLayerWriter::pair(l.integers("strides"))},
                       {"padding", l.text("padding")},
                       {"data_format", "channels_last"}});
}

}  // namespace dl
