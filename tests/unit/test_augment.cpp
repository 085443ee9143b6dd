// Training-time augmentation and the prefetching batch loader: what each transform does to a known image,
// that draws depend only on (seed, step, index), and that the loader delivers exactly the rows asked for.
#include <doctest/doctest.h>

#include <numeric>
#include <set>

#include "backend/backend.h"
#include "data/augment.h"
#include "train/loader.h"

namespace {
using namespace dl;

std::vector<float> ramp(int64_t h, int64_t w, int64_t c) {
    std::vector<float> v(static_cast<size_t>(h * w * c));
    std::iota(v.begin(), v.end(), 1.0f);  // every pixel distinct and non-zero
    return v;
}

TEST_CASE("augment: a horizontal flip mirrors rows, and about half the samples are flipped") {
    const AugmentSpec spec{.flip = "horizontal"};
    const Augmenter a(spec, {3, 4}, 7);
    const std::vector<float> src = ramp(3, 4, 1);
    std::vector<float> dst(src.size());
    int flipped = 0;
    for (int64_t i = 0; i < 200; ++i) {
        a.apply(src.data(), dst.data(), 5, i);
        if (dst == src) continue;
        ++flipped;
        for (int64_t y = 0; y < 3; ++y)
            for (int64_t x = 0; x < 4; ++x)
                CHECK(dst[static_cast<size_t>(y * 4 + x)] == src[static_cast<size_t>(y * 4 + 3 - x)]);
    }
    CHECK(flipped > 70);
    CHECK(flipped < 130);
}

TEST_CASE("augment: crop padding shifts the image by whole pixels with zeros shifted in, never further") {
    const AugmentSpec spec{.crop_padding = 2};
    const Augmenter a(spec, {6, 5, 2}, 3);
    const std::vector<float> src = ramp(6, 5, 2);
    std::vector<float> dst(src.size());
    std::set<std::pair<int64_t, int64_t>> shifts;
    for (int64_t i = 0; i < 300; ++i) {
        a.apply(src.data(), dst.data(), 0, i);
        // Find the shift from where source pixel (2, 2) went: every pixel is distinct.
        const float probe = src[(2 * 5 + 2) * 2];
        int64_t dy = 99, dx = 99;
        for (int64_t y = 0; y < 6; ++y)
            for (int64_t x = 0; x < 5; ++x)
                if (dst[static_cast<size_t>((y * 5 + x) * 2)] == probe) dy = y - 2, dx = x - 2;
        REQUIRE(std::abs(dy) <= 2);
        REQUIRE(std::abs(dx) <= 2);
        shifts.insert({dy, dx});
        for (int64_t y = 0; y < 6; ++y)
            for (int64_t x = 0; x < 5; ++x)
                for (int64_t c = 0; c < 2; ++c) {
                    const int64_t sy = y - dy, sx = x - dx;
                    const float want = (sy < 0 || sy >= 6 || sx < 0 || sx >= 5)
                                           ? 0.0f
                                           : src[static_cast<size_t>((sy * 5 + sx) * 2 + c)];
                    CHECK(dst[static_cast<size_t>((y * 5 + x) * 2 + c)] == want);
                }
    }
    CHECK(shifts.size() == 25);  // every shift in [-2, 2]^2 occurs
}

TEST_CASE("augment: translation factors become pixel ranges; draws depend on seed, step and index only") {
    const AugmentSpec spec{
        .flip = "horizontal_and_vertical", .translate_height = 0.25, .translate_width = 0.1};
    const std::vector<float> src = ramp(8, 10, 1);
    std::vector<float> a1(src.size()), a2(src.size()), b(src.size()), c(src.size());
    const Augmenter first(spec, {8, 10}, 42), again(spec, {8, 10}, 42), other_seed(spec, {8, 10}, 43);
    int differ_step = 0, differ_seed = 0;
    for (int64_t i = 0; i < 50; ++i) {
        first.apply(src.data(), a1.data(), 9, i);
        again.apply(src.data(), a2.data(), 9, i);
        CHECK(a1 == a2);
        first.apply(src.data(), b.data(), 10, i);
        other_seed.apply(src.data(), c.data(), 9, i);
        differ_step += b != a1;
        differ_seed += c != a1;
    }
    CHECK(differ_step > 25);
    CHECK(differ_seed > 25);
}

TEST_CASE("the batch loader delivers the asked rows (augmented when asked) into the executor's inputs") {
    Table t;
    t.sample_shape = {2, 3};
    t.classification = true;
    t.class_names = {"0", "1", "2"};
    for (int r = 0; r < 10; ++r) {
        for (int i = 0; i < 6; ++i) t.features.push_back(static_cast<float>(r * 10 + i));
        t.labels.push_back(r % 3);
    }
    const DataInfo info{.sample_shape = {2, 3}, .features = 6, .classes = 3, .classification = true};
    Graph g;
    Value x = g.input("x", Shape{3, 2, 3});
    Value y = g.input("y", Shape{3}, DType::i32);
    g.mark_output("x", x);
    g.mark_output("y", y);
    ParamStore params;
    ThreadPool pool(1);
    CpuBackend cpu;
    Executor ex(g, params, pool, cpu);
    const std::vector<int64_t> order = {9, 4, 7, 1, 0, 2};
    BatchLoader plain(t, info, AugmentSpec{}, 1, 3);
    for (int64_t begin : {0, 3}) {
        plain.start(order, begin, begin + 3, 0);
        plain.finish(ex);
        for (int64_t i = 0; i < 3; ++i) {
            const int64_t row = order[static_cast<size_t>(begin + i)];
            CHECK(ex.input("y").i32()[i] == row % 3);
            for (int64_t j = 0; j < 6; ++j)
                CHECK(ex.input("x").f32()[i * 6 + j] == static_cast<float>(row * 10 + j));
        }
    }
    const AugmentSpec flip{.flip = "horizontal"};
    BatchLoader flipping(t, info, flip, 1, 3);
    const Augmenter same(flip, {2, 3}, 1);
    flipping.start(order, 0, 3, 17);
    flipping.finish(ex);
    for (int64_t i = 0; i < 3; ++i) {
        std::vector<float> want(6);
        same.apply(t.features.data() + order[static_cast<size_t>(i)] * 6, want.data(), 17, i);
        for (int64_t j = 0; j < 6; ++j) CHECK(ex.input("x").f32()[i * 6 + j] == want[static_cast<size_t>(j)]);
    }
}

}  // namespace
