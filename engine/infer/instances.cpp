#include "infer/instances.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <span>

#include "core/fs.h"
#include "core/json_limits.h"
#include "data/text_fields.h"
#include "infer/predictor.h"
#include "model/bundle.h"
#include "spec/spec.h"

namespace dl {

namespace {

constexpr std::string_view kNonFinitePrefix{"\0dlctl:", 7};

// The shape of a nested list as far as its first elements go ("[14, 56]"); bounded by the parser's depth
// limit.
std::vector<int64_t> outer_shape(const nlohmann::json & v) {
    std::vector<int64_t> shape;
    for (const nlohmann::json * x = &v; x->is_array(); x = &(*x)[0]) {
        shape.push_back(static_cast<int64_t>(x->size()));
        if (x->empty()) break;
    }
    return shape;
}

// True when `v` is nested exactly to `shape` with numbers at the bottom; the recursion is as deep as the
// model's sample shape (a few levels), never as deep as what the client sent.
bool has_shape(const nlohmann::json & v, std::span<const int64_t> shape) {
    if (shape.empty()) return !v.is_array() && !v.is_object();
    if (!v.is_array() || static_cast<int64_t>(v.size()) != shape[0]) return false;
    return std::all_of(v.begin(), v.end(),
                       [&](const nlohmann::json & e) { return has_shape(e, shape.subspan(1)); });
}

// The first leaf that json_to_float refuses, looking no deeper than `depth` levels.
const nlohmann::json * first_non_number(const nlohmann::json & v, int depth) {
    if (!v.is_array()) {
        float unused = 0;
        std::string why;
        return json_to_float(v, unused, why) ? nullptr : &v;
    }
    if (depth == 0) return nullptr;
    for (const auto & e : v)
        if (const nlohmann::json * bad = first_non_number(e, depth - 1)) return bad;
    return nullptr;
}

bool fill(const nlohmann::json & v, float *& out, std::string & why) {
    if (!v.is_array()) {
        if (!json_to_float(v, *out, why)) return false;
        ++out;
        return true;
    }
    for (const auto & e : v)
        if (!fill(e, out, why)) return false;
    return true;
}

std::string sample_text(const TrainedModel & m) {
    return m.info.sample_shape.size() == 1
               ? fmt::format("{} values", m.info.features)
               : fmt::format("{} values (shape {})", m.info.features, to_string(Shape(m.info.sample_shape)));
}

bool parse_float(std::string_view s, float & out) {
    double d = 0;
    if (!parse_number(s, d)) return false;
    out = static_cast<float>(d);
    return true;
}

// Lines of a text file with their 1-based numbers, blank lines skipped.
template <typename F>
void for_each_line(std::string_view all, F && f) {
    size_t pos = 0;
    int64_t line_no = 0;
    while (pos < all.size()) {
        const size_t end = all.find('\n', pos);
        const std::string_view line =
            all.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? all.size() : end + 1;
        ++line_no;
        if (!trim_field(line).empty()) f(line, line_no);
    }
}

InputRows read_csv_rows(const std::string & path, const std::string & text, const TrainedModel & m) {
    InputRows out;
    const int64_t f = m.info.features;
    std::vector<size_t> cols;  // source column of each feature
    size_t width = 0;
    for_each_line(text, [&](std::string_view line, int64_t line_no) {
        const auto fields = split_fields(line, ',');
        if (width == 0) {  // the header
            width = fields.size();
            std::vector<std::string> names;
            for (auto field : fields) names.emplace_back(trim_field(field));
            if (m.features.empty()) {
                if (static_cast<int64_t>(names.size()) != f)
                    throw Error(ExitCode::bad_input,
                                fmt::format("{}: {} columns, but the model takes {} per row", path,
                                            names.size(), sample_text(m)));
                for (size_t i = 0; i < names.size(); ++i) cols.push_back(i);
                return;
            }
            for (const std::string & feature : m.features) {
                auto it = std::find(names.begin(), names.end(), feature);
                if (it == names.end()) {
                    const std::string close = closest_match(feature, names);
                    throw Error(
                        ExitCode::bad_input,
                        format_at({.file = path, .line = static_cast<int>(line_no), .col = 1},
                                  fmt::format("no column '{}', a feature of the model (its features: {})",
                                              feature, fmt::join(m.features, ", ")),
                                  close.empty() ? "" : fmt::format("did you mean '{}'?", close)));
                }
                cols.push_back(static_cast<size_t>(it - names.begin()));
            }
            return;
        }
        if (fields.size() != width)
            throw Error(ExitCode::bad_input,
                        format_at({.file = path, .line = static_cast<int>(line_no), .col = 1},
                                  fmt::format("{} fields, the header has {}", fields.size(), width)));
        for (int64_t j = 0; j < f; ++j) {
            const std::string_view field = fields[cols[static_cast<size_t>(j)]];
            float v = 0;
            if (!parse_float(trim_field(field), v)) {
                const std::string column = m.features.empty()
                                               ? fmt::format("{}", j + 1)
                                               : fmt::format("'{}'", m.features[static_cast<size_t>(j)]);
                throw Error(
                    ExitCode::bad_input,
                    format_at({.file = path,
                               .line = static_cast<int>(line_no),
                               .col = static_cast<int>(field.data() - line.data()) + 1},
                              fmt::format("column {}: '{}' is not a number", column, trim_field(field))));
            }
            out.values.push_back(v);
        }
        ++out.rows;
    });
    if (width == 0) throw Error(ExitCode::bad_input, fmt::format("{}: the file is empty", path));
    return out;
}

InputRows read_jsonl_rows(const std::string & path, const std::string & text, const TrainedModel & m) {
    InputRows out;
    const int64_t f = m.info.features;
    for_each_line(text, [&](std::string_view line, int64_t line_no) {
        const SourceLoc loc{.file = path, .line = static_cast<int>(line_no), .col = 1};
        nlohmann::json j;
        std::string text(line);
        rewrite_nonfinite_literals(text);
        if (json_nesting_depth(text, kMaxInstanceDepth) > kMaxInstanceDepth)
            throw Error(ExitCode::bad_input,
                        format_at(loc, fmt::format("JSON nested deeper than {} levels", kMaxInstanceDepth)));
        try {
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception & e) {
            SourceLoc at = loc;
            if (const auto * pe = dynamic_cast<const nlohmann::json::parse_error *>(&e))
                at.col = static_cast<int>(std::min<size_t>(pe->byte, line.size()));
            throw Error(ExitCode::bad_input,
                        format_at(at, fmt::format("not valid JSON: {}", json_error_text(e))));
        }
        out.values.resize(static_cast<size_t>((out.rows + 1) * f));
        std::string why;
        if (!instance_to_row(j, m, out.values.data() + out.rows * f, why))
            throw Error(ExitCode::bad_input, format_at(loc, why));
        ++out.rows;
    });
    return out;
}

}  // namespace

bool json_to_float(const nlohmann::json & x, float & out, std::string & why) {
    if (x.is_number()) {
        const double d = x.get<double>();
        if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
            why = fmt::format("{} is outside float32's range", x.dump());
            return false;
        }
        out = static_cast<float>(d);
        return true;
    }
    if (x.is_string()) {
        const std::string & text = x.get_ref<const std::string &>();
        if (text.starts_with(kNonFinitePrefix)) {
            const std::string_view name = std::string_view(text).substr(kNonFinitePrefix.size());
            if (name == "NaN" || name == "Infinity" || name == "-Infinity") {
                out = name == "NaN"        ? std::numeric_limits<float>::quiet_NaN()
                      : name == "Infinity" ? std::numeric_limits<float>::infinity()
                                           : -std::numeric_limits<float>::infinity();
                return true;
            }
        }
    }
    const std::string shown = x.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    why = fmt::format("{} is not a number", shown.size() > 60 ? shown.substr(0, 57) + "..." : shown);
    return false;
}

void rewrite_nonfinite_literals(std::string & text) {
    // Cheap first look: most bodies hold no 'N' or 'I' outside strings.
    if (text.find_first_of("NI") == std::string::npos) return;
    std::string out;
    out.reserve(text.size() + 32);
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < text.size())
                out += text[++i];
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        std::string_view rest = std::string_view(text).substr(i);
        const bool negative = rest.starts_with("-Infinity");
        if (rest.starts_with("NaN") || rest.starts_with("Infinity") || negative) {
            const std::string_view name = negative                  ? "-Infinity"
                                          : rest.starts_with("NaN") ? "NaN"
                                                                    : "Infinity";
            out += "\"\\u0000dlctl:";
            out += name;
            out += '"';
            i += name.size() - 1;
            continue;
        }
        out += c;
    }
    text = std::move(out);
}

bool instance_to_row(const nlohmann::json & instance, const TrainedModel & m, float * row,
                     std::string & why) {
    const int64_t f = m.info.features;
    if (instance.is_object() && !instance.contains(kInputName) && !m.features.empty()) {
        for (int64_t j = 0; j < f; ++j) {
            const std::string & name = m.features[static_cast<size_t>(j)];
            auto it = instance.find(name);
            if (it == instance.end()) {
                std::vector<std::string> keys;
                for (auto & [k, v] : instance.items()) keys.push_back(k);
                const std::string close = closest_match(name, keys);
                why = fmt::format("no value for feature '{}'{}", name,
                                  close.empty() ? "" : fmt::format(" (did you mean '{}'?)", close));
                return false;
            }
            if (!json_to_float(*it, row[j], why)) {
                why = fmt::format("feature '{}': {}", name, why);
                return false;
            }
        }
        return true;
    }
    const nlohmann::json & values =
        instance.is_object() && instance.contains(kInputName) ? instance[kInputName] : instance;
    if (!values.is_array() && !(f == 1 && !values.is_object())) {
        why = fmt::format("expected {}, a list{}", sample_text(m),
                          m.features.empty() ? "" : " or an object keyed by feature name");
        return false;
    }
    // Flat, nested to the sample's shape, or nested to it without its size-1 axes ([28][28] for [28, 28, 1]).
    const std::vector<int64_t> flat{f};
    std::vector<int64_t> squeezed;
    for (int64_t d : m.info.sample_shape)
        if (d != 1) squeezed.push_back(d);
    if (!values.is_array()) return json_to_float(values, row[0], why);
    if (!has_shape(values, flat) && !has_shape(values, m.info.sample_shape) && !has_shape(values, squeezed)) {
        // Say what is wrong: a value that is not a number, or else the shape.
        if (const nlohmann::json * bad = first_non_number(values, kMaxInstanceDepth)) {
            float unused = 0;
            json_to_float(*bad, unused, why);
            return false;
        }
        const std::vector<int64_t> got = outer_shape(values);
        why = got.size() <= 1
                  ? fmt::format("{} values, but the model takes {}", got.empty() ? 0 : got[0], sample_text(m))
                  : fmt::format("a list of shape {}, but the model takes {}", to_string(Shape(got)),
                                sample_text(m));
        return false;
    }
    float * out = row;
    return fill(values, out, why);
}

InputRows read_input_rows(const std::string & path, const std::string & format, const TrainedModel & model) {
    const std::string text =
        path == "-" ? std::string(std::istreambuf_iterator<char>(std::cin), {}) : read_file(path);
    const std::string shown = path == "-" ? "<stdin>" : path;
    InputRows rows =
        format == "csv" ? read_csv_rows(shown, text, model) : read_jsonl_rows(shown, text, model);
    if (rows.rows == 0) throw Error(ExitCode::bad_input, fmt::format("{}: no rows to predict", shown));
    return rows;
}

}  // namespace dl
