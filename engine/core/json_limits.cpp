#include "core/json_limits.h"

namespace dl {

int json_nesting_depth(std::string_view text, int stop_above) {
    int depth = 0;
    int deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;  // whatever is escaped cannot end the string
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > stop_above) return deepest;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

std::string json_error_text(const nlohmann::json::exception & e) {
    std::string text = e.what();
    if (text.rfind("[json.exception.", 0) == 0) {
        if (const size_t end = text.find("] "); end != std::string::npos) text.erase(0, end + 2);
    }
    return text;
}

template <class Json>
Json parse_json_bounded(std::string_view text, const std::string & what, JsonLimits limits, ExitCode code) {
    DL_CHECK(text.size() <= limits.max_bytes, code, "{}: JSON of {} bytes is over the limit of {} bytes",
             what, text.size(), limits.max_bytes);
    DL_CHECK(json_nesting_depth(text, limits.max_depth) <= limits.max_depth, code,
             "{}: JSON nested deeper than {} levels", what, limits.max_depth);
    try {
        return Json::parse(text);
    } catch (const nlohmann::json::exception & e) {
        throw Error(code, fmt::format("{}: invalid JSON: {}", what, json_error_text(e)));
    }
}

template nlohmann::json parse_json_bounded<nlohmann::json>(std::string_view, const std::string &, JsonLimits,
                                                           ExitCode);
template nlohmann::ordered_json parse_json_bounded<nlohmann::ordered_json>(std::string_view,
                                                                           const std::string &, JsonLimits,
                                                                           ExitCode);

}  // namespace dl
