#include "core/source_loc.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "core/text.h"

namespace dl {

namespace {

// The line at `line` (1-based), read at most kMaxLine bytes of it: a message shows a window of it, and a file
// of one endless line must not be read whole for one caret.
constexpr size_t kMaxLine = 4096;

std::string read_line(const std::string & file, int line) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return {};
    std::string text;
    int at = 1;
    for (char c; at <= line && in.get(c);) {
        if (c == '\n') {
            if (at == line) return text;
            ++at;
            continue;
        }
        if (at == line && text.size() < kMaxLine) text += c;
    }
    return at == line ? text : std::string();
}

}  // namespace

std::string format_at(const SourceLoc & loc, const std::string & message, const std::string & note) {
    std::string out;
    if (!loc.known()) {
        out = loc.file.empty() ? message : fmt::format("{}: {}", loc.file, message);
    } else {
        out = fmt::format("{}:{}:{}: {}", loc.file, loc.line, loc.col, message);
        std::string text = read_line(loc.file, loc.line);
        if (!text.empty() && text.back() == '\r') text.pop_back();
        if (!text.empty()) {
            std::replace(text.begin(), text.end(), '\t', ' ');
            // A window of the line around the column, control characters and invalid UTF-8 escaped; the caret
            // goes under the escaped text.
            size_t col = static_cast<size_t>(std::max(1, loc.col)) - 1;
            std::string prefix;
            if (col > 60 && text.size() > 120) {
                size_t from = col - 40;
                while (from > 0 && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80)
                    --from;  // whole chars
                text.erase(0, from);
                col -= from;
                prefix = "...";
            }
            std::string suffix;
            if (text.size() > col + 80) {
                size_t to = col + 80;
                while (to < text.size() && (static_cast<unsigned char>(text[to]) & 0xC0) == 0x80) ++to;
                text.resize(to);
                suffix = "...";
            }
            col = std::min(col, text.size());
            const size_t caret = prefix.size() + printable_width(std::string_view(text).substr(0, col));
            out += fmt::format("\n    {}{}{}\n    {}^", prefix, printable(text), suffix,
                               std::string(caret, ' '));
        }
    }
    if (!note.empty()) out += "\n  note: " + note;
    return out;
}

}  // namespace dl
