// Bounded JSON: every JSON text dlctl reads (request bodies, labels and signature files, registry answers,
// checkpoint attributes, run metadata) is checked for size and nesting before it is parsed, so no recursive
// code (ours or nlohmann's dump) ever sees a document deep enough to overflow the stack.
//   const nlohmann::json j = parse_json_bounded(text, "labels.json");  // Error(bad_input) on failure
//   const auto o = parse_json_bounded<nlohmann::ordered_json>(text, path, {.max_bytes = 1 << 20});
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace dl {

struct JsonLimits {
    size_t max_bytes = size_t{64} << 20;
    int max_depth = 64;  // arrays and objects nested inside each other; a [batch, 28, 28, 1] request uses 4
};

// The deepest nesting of arrays and objects in `text`, brackets inside strings excluded; stops counting (and
// returns a value above `stop_above`) as soon as that is exceeded.
int json_nesting_depth(std::string_view text, int stop_above);

// Throws Error(code) naming `what`: too large, too deep, or not JSON (the parser's position, without
// nlohmann's exception prefix). Non-finite numbers (1e999) are refused as the parser refuses them.
template <class Json = nlohmann::json>
Json parse_json_bounded(std::string_view text, const std::string & what, JsonLimits limits = {},
                        ExitCode code = ExitCode::bad_input);

// nlohmann's exception text without its "[json.exception.parse_error.101] " prefix.
std::string json_error_text(const nlohmann::json::exception & e);

}  // namespace dl
