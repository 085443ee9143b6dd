// Text that came from a user (file contents, names, command-line values) on its way into a message or a file:
//   if (size_t bad = invalid_utf8_at(header); bad != npos) ...   // byte offset of the first invalid sequence
//   fmt::print(stderr, "{}\n", printable(message, /*keep_newlines=*/true));
// printable() is what keeps a hostile file from driving the terminal (ESC sequences, BEL, backspaces, bidi
// overrides) or smuggling raw bytes into logs: control characters and invalid UTF-8 become visible escapes.
#pragma once

#include <string>
#include <string_view>

namespace dl {

// The byte offset of the first byte that does not start a valid UTF-8 sequence (overlong forms, surrogates
// and code points above U+10FFFF are invalid), or std::string_view::npos when all of `s` is valid UTF-8.
size_t invalid_utf8_at(std::string_view s);

// `s` with C0/C1 control characters, DEL, bidirectional overrides and invalid UTF-8 bytes written as escapes
// (\e, \t, \r, \x07, \u202e, \xe9); newlines are kept when `keep_newlines` (multi-line messages).
std::string printable(std::string_view s, bool keep_newlines = false);

// The number of columns `s` takes once printable(): what a caret under a later character must skip.
size_t printable_width(std::string_view s);

}  // namespace dl
