// h5same A.h5 B.h5: exit 0 when both checkpoints hold the same datasets with identical bytes; prints the
// first difference otherwise. Used by the CLI tests (determinism, resume).
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "io/h5file.h"

int main(int argc, char ** argv) {
    if (argc != 3) {
        fmt::print(stderr, "usage: h5same A.h5 B.h5\n");
        return 2;
    }
    try {
        const dl::H5Content a = dl::read_h5(argv[1]), b = dl::read_h5(argv[2]);
        size_t count = 0;
        for (auto & [name, ta] : a.tensors) {
            auto it = b.tensors.find(name);
            if (it == b.tensors.end()) {
                fmt::print("{} missing from {}\n", name, argv[2]);
                return 1;
            }
            const dl::Tensor & tb = it->second;
            if (ta.shape() != tb.shape() || std::memcmp(ta.f32(), tb.f32(), ta.bytes()) != 0) {
                double diff = 0;
                if (ta.shape() == tb.shape())
                    for (int64_t i = 0; i < ta.numel(); ++i)
                        diff = std::max(diff, std::fabs(double(ta.f32()[i]) - tb.f32()[i]));
                fmt::print("{} differs (max abs diff {:.3g})\n", name, diff);
                return 1;
            }
            ++count;
        }
        if (a.tensors.size() != b.tensors.size()) {
            fmt::print("{} has datasets that {} lacks\n", argv[2], argv[1]);
            return 1;
        }
        for (auto & [name, v] : a.ints) {
            if (!b.ints.count(name) || b.ints.at(name) != v) {
                fmt::print("{} differs\n", name);
                return 1;
            }
            ++count;
        }
        for (auto & [name, v] : a.reals) {
            if (!b.reals.count(name) || std::memcmp(&b.reals.at(name), &v, sizeof v) != 0) {
                fmt::print("{} differs\n", name);
                return 1;
            }
            ++count;
        }
        fmt::print("{} datasets identical\n", count);
        return 0;
    } catch (const std::exception & e) {
        fmt::print(stderr, "h5same: {}\n", e.what());
        return 2;
    }
}
