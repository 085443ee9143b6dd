// zero_padding2d: rows and columns of zeros around an image, as Keras' ZeroPadding2D.
#include <cmath>

#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

// padding as Keras takes it: 1 (all sides), [rows, cols], or [[top, bottom], [left, right]].
std::vector<std::vector<int64_t>> read_padding(Problems & p, MapReader & m) {
    const std::vector<std::vector<int64_t>> fallback = {{1, 1}, {1, 1}};
    const YAML::Node v = m.raw("padding");
    if (!m.has("padding")) return fallback;
    auto bad = [&] {
        p.add(m.value_loc("padding"),
              fmt::format("{}: expected n, [rows, cols] or [[top, bottom], [left, right]]",
                          m.child_path("padding")));
        return fallback;
    };
    if (v.IsScalar()) {
        const int64_t n = m.integer("padding", 1, in_range(0, kMaxWindow));
        return {{n, n}, {n, n}};
    }
    if (!v.IsSequence() || v.size() != 2) return bad();
    if (v[0].IsScalar() && v[1].IsScalar()) {
        const std::vector<int64_t> rc = m.integers("padding", in_range(0, kMaxWindow));
        return rc.size() == 2 ? std::vector<std::vector<int64_t>>{{rc[0], rc[0]}, {rc[1], rc[1]}} : fallback;
    }
    std::vector<std::vector<int64_t>> out;
    for (size_t i = 0; i < 2; ++i) {
        if (!v[i].IsSequence() || v[i].size() != 2) return bad();
        out.emplace_back();
        for (size_t j = 0; j < 2; ++j) {
            const std::string where = fmt::format("{}.{}.{}", m.child_path("padding"), i, j);
            auto d = read_number(p, v[i][j], where);
            if (!d || !(*d >= 0 && *d <= kMaxWindow) || std::floor(*d) != *d) {
                p.add(p.loc(v[i][j], where),
                      fmt::format("{}: expected a whole number between 0 and {}", where, kMaxWindow));
                return fallback;
            }
            out.back().push_back(static_cast<int64_t>(*d));
        }
    }
    return out;
}

void read(LayerReader & r) { r.layer.set("padding", read_padding(r.problems, r.keys)); }

void build(LayerBuild & b) {
    b.image_input();
    const Shape s = b.in().shape();
    const std::vector<std::vector<int64_t>> & z = b.layer.pairs("padding");  // [[top, bottom], [left, right]]
    // Checked here: the padded shape is computed (and could wrap around) before any later check.
    b.check_output(Shape{s[0], s[1] + z[0][0] + z[0][1], s[2] + z[1][0] + z[1][1], s[3]});
    b.out = b.g.op("pad", {b.in()},
                   {{"before", std::vector<int64_t>{0, z[0][0], z[1][0], 0}},
                    {"after", std::vector<int64_t>{0, z[0][1], z[1][1], 0}}});
}

void keras(KerasLayerWriter & k) {
    k.add("ZeroPadding2D", {{"padding", k.layer().pairs("padding")}, {"data_format", "channels_last"}});
}

DL_REGISTER_LAYER({.type = "zero_padding2d",
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {4, 4, 1}, .options = "{padding: [[1, 0], [2, 3]]}"}});

}  // namespace
}  // namespace dl
