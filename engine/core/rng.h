// Counter-based random numbers: every draw is a pure function of (seed, stream, counter), so results do not
// depend on which thread draws them or in which order (Note [determinism], docs/ARCHITECTURE.md §9).
//   Rng rng(seed, Rng::stream("init", "dense_1/kernel"));
//   float u = rng.uniform(i);          // [0, 1)
//   float n = rng.normal(i);           // standard normal
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/host_device.h"  // the draws compile for CUDA too: .cu kernels make the CPU kernels' numbers

namespace dl {

class Rng {
public:
    DL_HOST_DEVICE Rng(uint64_t seed, uint64_t stream)
        : key_(mix(seed ^ mix(stream + 0x9E3779B97F4A7C15ull))) {}

    // A stream id derived from names, e.g. stream("shuffle", epoch) or stream("init", "dense/kernel").
    static uint64_t stream(std::string_view a, std::string_view b = {}) {
        return hash_string(b, hash_string(a, 0x51ED270B27A5C3D1ull) ^ 0x2545F4914F6CDD1Dull);
    }
    static uint64_t stream(std::string_view a, uint64_t n) {
        return mix(hash_string(a, 0x51ED270B27A5C3D1ull) + n);
    }

    DL_HOST_DEVICE uint64_t bits(uint64_t counter) const { return mix(key_ + mix(counter)); }
    DL_HOST_DEVICE float uniform(uint64_t counter) const {
        return static_cast<float>(bits(counter) >> 40) * 0x1.0p-24f;
    }
    double uniform_double(uint64_t counter) const {
        return static_cast<double>(bits(counter) >> 11) * 0x1.0p-53;
    }
    float normal(uint64_t counter) const;

    // A permutation of [0, n) by Fisher-Yates driven by counters 0..n-1.
    std::vector<int64_t> permutation(int64_t n) const;

    DL_HOST_DEVICE static uint64_t mix(uint64_t z) {  // SplitMix64 finaliser: a strong 64-bit bijection
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

private:
    static uint64_t hash_string(std::string_view s, uint64_t h) {
        for (unsigned char c : s) h = mix(h ^ c);  // FNV-like chaining through a strong mixer
        return h;
    }
    uint64_t key_;
};

}  // namespace dl
