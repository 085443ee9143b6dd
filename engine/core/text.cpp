#include "core/text.h"

#include <fmt/format.h>

namespace dl {

namespace {

// The length of the valid UTF-8 sequence at s[i] and its code point, or 0 when the byte there starts none.
size_t utf8_sequence(std::string_view s, size_t i, char32_t & cp) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    size_t len = 0;
    char32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;  // a continuation byte, or 0xF8..0xFF
    }
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

// Code points that reorder or hide text on a terminal: C1 controls and the bidirectional controls.
bool invisible(char32_t cp) {
    return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x200E || cp == 0x200F || cp == 0x061C;
}

template <typename Sink>
void walk_printable(std::string_view s, bool keep_newlines, Sink && sink) {
    for (size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const size_t len = utf8_sequence(s, i, cp);
        if (len == 0) {
            sink(fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i])), 4);
            ++i;
            continue;
        }
        if (cp == '\n' && keep_newlines) {
            sink(std::string(1, '\n'), 0);
        } else if (cp < 0x20 || cp == 0x7F) {
            switch (cp) {
                case '\t':
                    sink(std::string("\\t"), 2);
                    break;
                case '\r':
                    sink(std::string("\\r"), 2);
                    break;
                case '\n':
                    sink(std::string("\\n"), 2);
                    break;
                case 0x1B:
                    sink(std::string("\\e"), 2);
                    break;
                default:
                    sink(fmt::format("\\x{:02x}", static_cast<unsigned>(cp)), 4);
            }
        } else if (invisible(cp)) {
            sink(fmt::format("\\u{:04x}", static_cast<unsigned>(cp)), 6);
        } else {
            sink(std::string(s.substr(i, len)), 1);
        }
        i += len;
    }
}

}  // namespace

size_t invalid_utf8_at(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {  // the common case, byte by byte
            ++i;
            continue;
        }
        char32_t cp = 0;
        const size_t len = utf8_sequence(s, i, cp);
        if (len == 0) return i;
        i += len;
    }
    return std::string_view::npos;
}

std::string printable(std::string_view s, bool keep_newlines) {
    std::string out;
    out.reserve(s.size());
    walk_printable(s, keep_newlines, [&](const std::string & piece, size_t) { out += piece; });
    return out;
}

size_t printable_width(std::string_view s) {
    size_t width = 0;
    walk_printable(s, false, [&](const std::string &, size_t w) { width += w; });
    return width;
}

}  // namespace dl
