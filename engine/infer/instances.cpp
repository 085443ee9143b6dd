#include "infer/instances.h"

#include <iostream>

#include "core/fs.h"
#include "data/text_fields.h"
#include "infer/predictor.h"
#include "io/export.h"
#include "spec/spec.h"

namespace dl {

namespace {

// Flattens nested arrays of numbers into `row`, counting values; false with `why` on anything else.
bool flatten(const nlohmann::json & v, float * row, int64_t capacity, int64_t & count, std::string & why) {
    if (v.is_array()) {
        for (const auto & e : v)
            if (!flatten(e, row, capacity, count, why)) return false;
        return true;
    }
    if (!v.is_number()) {
        why = fmt::format("{} is not a number", v.dump());
        return false;
    }
    if (count < capacity) row[count] = v.get<float>();
    ++count;
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
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error & e) {
            SourceLoc at = loc;
            at.col = static_cast<int>(std::min<size_t>(e.byte, line.size()));
            throw Error(ExitCode::bad_input, format_at(at, "not valid JSON"));
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
            if (!it->is_number()) {
                why = fmt::format("feature '{}': {} is not a number", name, it->dump());
                return false;
            }
            row[j] = it->get<float>();
        }
        return true;
    }
    const nlohmann::json & values =
        instance.is_object() && instance.contains(kInputName) ? instance[kInputName] : instance;
    if (!values.is_array() && !(f == 1 && values.is_number())) {
        why = fmt::format("expected {}, a list{}", sample_text(m),
                          m.features.empty() ? "" : " or an object keyed by feature name");
        return false;
    }
    int64_t count = 0;
    if (!flatten(values, row, f, count, why)) return false;
    if (count != f) {
        why = fmt::format("{} values, but the model takes {}", count, sample_text(m));
        return false;
    }
    return true;
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
