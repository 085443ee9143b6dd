#include "core/source_loc.h"

#include <fmt/format.h>

#include <fstream>

namespace dl {

static std::string read_line(const std::string & file, int line) {
    std::ifstream in(file);
    std::string text;
    for (int i = 1; i <= line && std::getline(in, text); ++i) {
        if (i == line) return text;
    }
    return {};
}

std::string format_at(const SourceLoc & loc, const std::string & message, const std::string & note) {
    std::string out;
    if (!loc.known()) {
        out = loc.file.empty() ? message : fmt::format("{}: {}", loc.file, message);
    } else {
        out = fmt::format("{}:{}:{}: {}", loc.file, loc.line, loc.col, message);
        std::string text = read_line(loc.file, loc.line);
        if (!text.empty()) {
            for (char & c : text) if (c == '\t') c = ' ';
            out += fmt::format("\n    {}\n    {}^", text, std::string(static_cast<size_t>(std::max(0, loc.col - 1)), ' '));
        }
    }
    if (!note.empty()) out += "\n  note: " + note;
    return out;
}

}  // namespace dl
