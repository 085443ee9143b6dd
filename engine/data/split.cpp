#include <cmath>

#include "core/rng.h"
#include "data/dataset.h"

namespace dl {

Splits make_splits(int64_t rows, const DataSpec & data, uint64_t seed, int64_t test_start) {
    Splits s;
    std::vector<int64_t> order;
    if (test_start >= 0) {
        for (int64_t i = test_start; i < rows; ++i) s.test.push_back(i);
        const auto split_at =
            static_cast<int64_t>(static_cast<double>(test_start) * (1.0 - data.validation_split));
        for (int64_t i = 0; i < test_start; ++i) (i < split_at ? s.train : s.validation).push_back(i);
        return s;
    }
    if (data.test_split > 0) {
        order = Rng(seed, Rng::stream("split")).permutation(rows);
    } else {
        order.resize(static_cast<size_t>(rows));
        for (int64_t i = 0; i < rows; ++i) order[static_cast<size_t>(i)] = i;
    }
    const auto n_test = static_cast<int64_t>(std::ceil(data.test_split * static_cast<double>(rows) - 1e-9));
    s.test.assign(order.begin(), order.begin() + n_test);
    std::vector<int64_t> rest(order.begin() + n_test, order.end());
    const auto split_at =
        static_cast<int64_t>(static_cast<double>(rest.size()) * (1.0 - data.validation_split));
    s.train.assign(rest.begin(), rest.begin() + split_at);
    s.validation.assign(rest.begin() + split_at, rest.end());
    return s;
}

Normalizer Normalizer::fit(const Table & t, const std::vector<int64_t> & rows, const std::string & method) {
    Normalizer n;
    n.method = method;
    const int64_t f = t.num_features();
    n.offset.assign(static_cast<size_t>(f), 0.0f);
    n.scale.assign(static_cast<size_t>(f), 1.0f);
    if (method == "none" || rows.empty()) return n;
    for (int64_t c = 0; c < f; ++c) {
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        for (int64_t r : rows) {
            const double v = t.features[static_cast<size_t>(r * f + c)];
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
        }
        const double mean = sum / static_cast<double>(rows.size());
        double var = 0;
        for (int64_t r : rows) {
            const double d = t.features[static_cast<size_t>(r * f + c)] - mean;
            var += d * d;
        }
        const double std =
            std::sqrt(var / static_cast<double>(rows.size()));  // population std, as StandardScaler
        if (method == "standard") {
            n.offset[static_cast<size_t>(c)] = static_cast<float>(mean);
            n.scale[static_cast<size_t>(c)] = std > 0 ? static_cast<float>(std) : 1.0f;
        } else {  // minmax -> [0, 1]
            n.offset[static_cast<size_t>(c)] = static_cast<float>(lo);
            n.scale[static_cast<size_t>(c)] = hi > lo ? static_cast<float>(hi - lo) : 1.0f;
        }
    }
    return n;
}

void Normalizer::apply(Table & t) const {
    if (method == "none") return;
    const size_t f = static_cast<size_t>(t.num_features());
    for (size_t i = 0; i < t.features.size(); ++i)
        t.features[i] = (t.features[i] - offset[i % f]) / scale[i % f];
}

}  // namespace dl
