// Image augmentation for training batches, as image users know it from Keras' RandomFlip, RandomCrop (with
// padding) and RandomTranslation: each becomes a flip and a whole-pixel shift with zeros shifted in, drawn
// per sample from the run's seed, the step and the sample's place in the batch, so a resumed run draws the
// same.
//   Augmenter a(spec.data.augment, {28, 28}, seed);
//   a.apply(src, dst, step, index_in_batch);        // one sample [h, w] or [h, w, c]
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "spec/spec.h"

namespace dl {

class Augmenter {
public:
    Augmenter(const AugmentSpec & spec, const std::vector<int64_t> & sample_shape, uint64_t seed);

    bool active() const { return active_; }
    // Writes the augmented copy of one sample (src and dst do not overlap).
    void apply(const float * src, float * dst, uint64_t step, int64_t index) const;

private:
    AugmentSpec spec_;
    int64_t h_ = 0, w_ = 0, c_ = 1;
    int64_t max_dy_ = 0, max_dx_ = 0;  // the largest shift either way, in pixels
    Rng rng_;
    bool active_ = false;
};

}  // namespace dl
