#include "core/rng.h"

#include <cmath>
#include <numeric>

namespace dl {

float Rng::normal(uint64_t counter) const {
    // Box-Muller on two independent uniforms taken from counters 2i and 2i+1.
    const double u1 = 1.0 - uniform_double(2 * counter);  // (0, 1]
    const double u2 = uniform_double(2 * counter + 1);
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

std::vector<int64_t> Rng::permutation(int64_t n) const {
    std::vector<int64_t> p(static_cast<size_t>(n));
    std::iota(p.begin(), p.end(), 0);
    for (int64_t i = n - 1; i > 0; --i) {
        const auto j = static_cast<int64_t>(bits(static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1));
        std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
    }
    return p;
}

}  // namespace dl
