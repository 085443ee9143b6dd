#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace dl {

Augmenter::Augmenter(const AugmentSpec & spec, const std::vector<int64_t> & sample_shape, uint64_t seed)
    : spec_(spec), rng_(seed, Rng::stream("augment")) {
    active_ =
        spec.flip != "none" || spec.crop_padding > 0 || spec.translate_height > 0 || spec.translate_width > 0;
    if (!active_) return;
    DL_ASSERT(sample_shape.size() == 2 || sample_shape.size() == 3);
    h_ = sample_shape[0], w_ = sample_shape[1], c_ = sample_shape.size() == 3 ? sample_shape[2] : 1;
    // Translation by a fraction of the size (Keras rounds the same way); a padded crop shifts by up to the
    // padding.
    max_dy_ =
        std::max<int64_t>(spec.crop_padding, std::llround(spec.translate_height * static_cast<double>(h_)));
    max_dx_ =
        std::max<int64_t>(spec.crop_padding, std::llround(spec.translate_width * static_cast<double>(w_)));
}

void Augmenter::apply(const float * src, float * dst, uint64_t step, int64_t index) const {
    const uint64_t base = (step << 20 | static_cast<uint64_t>(index)) * 4;
    auto shift = [&](uint64_t k, int64_t max) {
        return max == 0
                   ? 0
                   : static_cast<int64_t>(rng_.bits(base + k) % static_cast<uint64_t>(2 * max + 1)) - max;
    };
    const bool flip_h =
        (spec_.flip == "horizontal" || spec_.flip == "horizontal_and_vertical") && rng_.uniform(base) < 0.5f;
    const bool flip_v = (spec_.flip == "vertical" || spec_.flip == "horizontal_and_vertical") &&
                        rng_.uniform(base + 1) < 0.5f;
    const int64_t dy = shift(2, max_dy_), dx = shift(3, max_dx_);
    // dst(y, x) = src(y', x') with y' = flip(y) - dy; pixels that come from outside the image are zero.
    for (int64_t y = 0; y < h_; ++y) {
        float * row = dst + y * w_ * c_;
        const int64_t sy = (flip_v ? h_ - 1 - y : y) - dy;
        if (sy < 0 || sy >= h_) {
            std::memset(row, 0, static_cast<size_t>(w_ * c_) * sizeof(float));
            continue;
        }
        const float * srow = src + sy * w_ * c_;
        for (int64_t x = 0; x < w_; ++x) {
            const int64_t sx = (flip_h ? w_ - 1 - x : x) - dx;
            float * px = row + x * c_;
            if (sx < 0 || sx >= w_)
                std::fill(px, px + c_, 0.0f);
            else
                std::copy(srow + sx * c_, srow + (sx + 1) * c_, px);
        }
    }
}

}  // namespace dl
