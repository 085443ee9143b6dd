// The per-row sums of layer normalisation, shared by the CPU kernels (through norm_stats.h) and the CUDA
// kernels (layer_norm*.cu), so both add in the same order.
#pragma once

#include <cstdint>

#include "core/host_device.h"

#ifdef __CUDACC__
#define DL_NOINLINE
#else
#define DL_NOINLINE [[gnu::noinline]]
#endif

namespace dl {

// Σ f(j) for j in [0, d) in double, in eight fixed partial sums: the loop vectorises, the order of additions
// is fixed.
template <typename F>
DL_HOST_DEVICE double row_sum(int64_t d, F && f) {
    double a[8] = {};
    int64_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int l = 0; l < 8; ++l) a[l] += f(j + l);
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; j < d; ++j) s += f(j);
    return s;
}

// Mean and biased variance of one row, in double: the mean first, then the squares about it (the row is in
// cache).
DL_NOINLINE inline DL_HOST_DEVICE void row_moments(const float * x, int64_t d, double & mean, double & var) {
    const double n = static_cast<double>(d > 1 ? d : 1);
    mean = row_sum(d, [&](int64_t j) { return static_cast<double>(x[j]); }) / n;
    const double m = mean;
    var = row_sum(d,
                  [&](int64_t j) {
                      const double c = static_cast<double>(x[j]) - m;
                      return c * c;
                  }) /
          n;
}

}  // namespace dl
