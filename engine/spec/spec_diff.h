// Two resolved specs (what `dlctl render` prints and a version saves as spec.yaml) compared key by key, with
// the dotted paths --set takes: `train.optimizer.lr`, `model.layers.0.dense.units`.
//   for (const SpecChange & c : diff_spec_yaml(a_yaml, b_yaml)) print(c.key, c.a, c.b);
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dl {

struct SpecChange {
    std::string key;
    std::optional<std::string> a, b;  // the value in each spec; nullopt where that spec lacks the key
};

// Scalars and lists of scalars (`input: [13]`) are compared as written; maps and other lists key by key.
// Keys in A's order, then the ones only B has. `what_a`/`what_b` name the specs in a parse error (exit 65).
std::vector<SpecChange> diff_spec_yaml(const std::string & a, const std::string & b,
                                       const std::string & what_a, const std::string & what_b);

}  // namespace dl
