#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/text.h"
#include "data/dataset.h"
#include "data/text_fields.h"

namespace dl {

// The data file as the user can open it from where they are.
std::string display_path(const std::string & absolute) {
    std::error_code ec;
    const std::filesystem::path rel =
        std::filesystem::path(absolute).lexically_relative(std::filesystem::current_path(ec));
    return rel.empty() ? absolute : rel.string();
}

Table read_csv(const DataSpec & data, bool class_labels, const std::vector<std::string> & known_classes) {
    const std::string file = display_path(data.path);
    const std::string text = read_file(data.path);
    Table t;
    t.sha256 = sha256_hex(text);
    t.classification = class_labels;
    const char delim = data.delimiter.empty() ? ',' : data.delimiter[0];

    std::string_view line;
    // A bad value: file:row:col (col = the character where the field starts), the row and a caret.
    auto fail = [&](int64_t row, std::string_view field, const std::string & column, const std::string & msg,
                    const std::string & note = {}) {
        const int col = field.data() ? static_cast<int>(field.data() - line.data()) + 1 : 1;
        const std::string what = column.empty() ? msg : fmt::format("column '{}': {}", column, msg);
        throw Error(ExitCode::bad_input,
                    format_at({.file = file, .line = static_cast<int>(row), .col = col}, what, note));
    };

    std::string_view all(text);
    size_t pos = all.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;  // a UTF-8 byte order mark (Excel writes one)
    int64_t line_no = 0;
    auto next_line = [&](std::string_view & line) {
        while (pos < all.size()) {
            const size_t end = all.find('\n', pos);
            line = all.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
            pos = end == std::string_view::npos ? all.size() : end + 1;
            ++line_no;
            if (!trim_field(line).empty()) return true;
        }
        return false;
    };

    std::string_view header;
    if (!next_line(header)) throw Error(ExitCode::bad_input, fmt::format("{}: the file is empty", file));
    line = header;  // for fail()'s columns
    if (const size_t bad = invalid_utf8_at(header); bad != std::string_view::npos)
        fail(line_no, header.substr(bad), "",
             fmt::format("the header is not UTF-8 (byte 0x{:02x})", static_cast<unsigned char>(header[bad])),
             "column names are UTF-8 text; re-save the file as UTF-8");
    std::vector<std::string> columns;
    std::map<std::string_view, size_t> first_column;
    const auto header_fields = split_fields(header, delim);
    for (size_t c = 0; c < header_fields.size(); ++c) {
        const std::string_view name = trim_field(header_fields[c]);
        if (auto [first, fresh] = first_column.emplace(name, c); !fresh)
            fail(line_no, header_fields[c], "",
                 fmt::format("column {} is named '{}' like column {}", c + 1, name, first->second + 1),
                 "give every column a name of its own");
        columns.emplace_back(name);
    }

    auto column_index = [&](const std::string & name, const char * what) -> size_t {
        auto it = std::find(columns.begin(), columns.end(), name);
        if (it == columns.end()) {
            const std::string close = closest_match(name, columns);
            throw Error(ExitCode::bad_input,
                        format_at(what == std::string("target") ? data.target_loc
                                  : data.features_loc.known()   ? data.features_loc
                                                                : data.path_loc,
                                  fmt::format("{} column '{}' is not in {} (columns: {})", what, name, file,
                                              fmt::join(columns, ", ")),
                                  close.empty() ? "" : fmt::format("did you mean '{}'?", close)));
        }
        return static_cast<size_t>(it - columns.begin());
    };
    std::vector<size_t> target_cols, feature_cols;
    for (const std::string & name : data.targets) target_cols.push_back(column_index(name, "target"));
    if (class_labels && target_cols.size() != 1)
        throw Error(ExitCode::bad_input,
                    format_at(data.target_loc, "a classification loss needs exactly one target column"));
    if (data.features.empty()) {
        for (size_t c = 0; c < columns.size(); ++c)
            if (std::find(target_cols.begin(), target_cols.end(), c) == target_cols.end())
                feature_cols.push_back(c);
    } else {
        for (const std::string & name : data.features) feature_cols.push_back(column_index(name, "feature"));
    }
    for (size_t c : feature_cols) t.feature_names.push_back(columns[c]);
    t.sample_shape = {static_cast<int64_t>(feature_cols.size())};
    for (size_t c : target_cols) t.target_names.push_back(columns[c]);
    check_storable_names(t.feature_names, file, "feature names",
                         "name fewer columns in data.features, or give them shorter names");
    check_storable_names(t.target_names, file, "target names", "give the target columns shorter names");

    std::map<std::string, int32_t> class_index;
    for (size_t i = 0; i < known_classes.size(); ++i) class_index[known_classes[i]] = static_cast<int32_t>(i);
    t.class_names = known_classes;
    bool numeric_labels = true, string_labels = false;

    while (next_line(line)) {
        const auto fields = split_fields(line, delim);
        if (fields.size() != columns.size())
            fail(line_no, line, "",
                 fmt::format("expected {} fields as in the header, found {}", columns.size(), fields.size()));
        for (size_t c : feature_cols) {
            const std::string_view f = trim_field(fields[c]);
            double v;
            if (f.empty()) fail(line_no, fields[c], columns[c], "missing value");
            if (!parse_number(f, v))
                fail(line_no, fields[c], columns[c], fmt::format("'{}' is not a number", f));
            t.features.push_back(static_cast<float>(v));
        }
        for (size_t c : target_cols) {
            const std::string_view f = trim_field(fields[c]);
            if (f.empty()) fail(line_no, fields[c], columns[c], "missing value");
            double v;
            const bool is_number = parse_number(f, v);
            if (!class_labels) {
                if (!is_number) fail(line_no, fields[c], columns[c], fmt::format("'{}' is not a number", f));
                t.targets.push_back(static_cast<float>(v));
                continue;
            }
            std::string name(f);
            if (is_number && known_classes.empty()) {
                if (v < 0 || std::floor(v) != v || v >= static_cast<double>(kMaxClasses))
                    fail(line_no, fields[c], columns[c],
                         fmt::format("class label '{}' must be a whole number from 0 to {} or a name", f,
                                     kMaxClasses - 1),
                         "the loss is a classification loss; for a numeric target use mse, mae or huber");
                t.labels.push_back(static_cast<int32_t>(v));
                continue;
            }
            if (!is_number) string_labels = true;
            numeric_labels = numeric_labels && is_number;
            auto it = class_index.find(name);
            if (it == class_index.end()) {
                if (!known_classes.empty())
                    fail(line_no, fields[c], columns[c],
                         fmt::format("class '{}' was not seen in training (classes: {})", name,
                                     fmt::join(known_classes, ", ")));
                if (const size_t bad = invalid_utf8_at(name); bad != std::string::npos)
                    fail(line_no, f.substr(bad), columns[c],
                         fmt::format("class name is not UTF-8 (byte 0x{:02x})",
                                     static_cast<unsigned char>(name[bad])),
                         "class names are UTF-8 text; re-save the file as UTF-8");
                if (static_cast<int64_t>(t.class_names.size()) >= kMaxClasses)
                    fail(line_no, fields[c], columns[c], fmt::format("more than {} classes", kMaxClasses));
                it = class_index.emplace(name, static_cast<int32_t>(t.class_names.size())).first;
                t.class_names.push_back(name);
            }
            t.labels.push_back(it->second);
        }
    }
    if (class_labels && known_classes.empty() && !string_labels) {
        // Numeric class labels name themselves: 0..max.
        int32_t max_label = -1;
        for (int32_t l : t.labels) max_label = std::max(max_label, l);
        t.class_names.clear();
        for (int32_t i = 0; i <= max_label; ++i) t.class_names.push_back(std::to_string(i));
    } else if (class_labels && string_labels && known_classes.empty()) {
        // Mixed numbers and names: numbers were pushed as indices above; redo as names for a consistent
        // mapping.
        bool mixed = false;
        for (size_t i = 0; i < t.labels.size(); ++i)
            mixed = mixed || t.labels[i] >= static_cast<int32_t>(t.class_names.size());
        if (mixed)
            throw Error(ExitCode::bad_input, fmt::format("{}: class labels mix numbers and names", file));
    }
    if (t.rows() == 0)
        throw Error(ExitCode::bad_input, fmt::format("{}: no data rows after the header", file));
    check_storable_names(t.class_names, file, "class names", "use shorter class names, or fewer classes");
    return t;
}

void check_storable_names(const std::vector<std::string> & names, const std::string & file, const char * what,
                          const std::string & hint) {
    size_t bytes = 2;  // as nlohmann::json(names).dump() writes them, without building it: ["a","b"]
    for (const std::string & n : names) {
        bytes += n.size() + 3;
        for (unsigned char ch : n) bytes += ch < 0x20 ? 5 : (ch == '"' || ch == '\\') ? 1 : 0;
    }
    if (bytes > kMaxStoredNamesBytes)
        throw Error(
            ExitCode::bad_input,
            fmt::format("{}: the {} {} take {} bytes as a model file stores them, over the limit of {}\n"
                        "  note: {}",
                        file, names.size(), what, bytes, kMaxStoredNamesBytes, hint));
}

}  // namespace dl
