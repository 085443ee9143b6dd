// Where something came from in a user's file, 1-based, and the ninja-style way to show it:
//   dlctl: error: configs/mlp.yaml:12:9: unknown layer 'dens'
//         - dens: {units: 64}
//           ^
#pragma once

#include <string>

namespace dl {

struct SourceLoc {
    std::string file;  // as the user named it (relative paths stay relative)
    int line = 0;      // 1-based; 0 = unknown
    int col = 0;       // 1-based
    bool known() const { return line > 0; }
};

// "file:line:col: message" followed by the source line and a caret under the column, plus optional notes.
std::string format_at(const SourceLoc & loc, const std::string & message, const std::string & note = {});

}  // namespace dl
