// Splitting and reading the fields of delimited text lines, shared by the CSV reader and `dlctl predict`.
//   for (std::string_view f : split_fields(line, ',')) if (double v; parse_number(trim_field(f), v)) ...
#pragma once

#include <charconv>
#include <cmath>
#include <string_view>
#include <vector>

namespace dl {

inline std::vector<std::string_view> split_fields(std::string_view line, char delimiter) {
    std::vector<std::string_view> out;
    size_t start = 0;
    for (;;) {
        const size_t end = line.find(delimiter, start);
        out.push_back(line.substr(start, end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return out;
}

// Without surrounding blanks, a carriage return, or one pair of double quotes.
inline std::string_view trim_field(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    return s;
}

// A finite number, the whole field (a leading '+' allowed).
inline bool parse_number(std::string_view s, double & out) {
    if (s.empty()) return false;
    if (s.front() == '+') s.remove_prefix(1);
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(out);
}

}  // namespace dl
