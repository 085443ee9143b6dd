// Build identity, generated at configure time (so that a new commit recompiles one file, not the engine).
//   fmt::print("dlctl {} ({})\n", DLCTL_VERSION, dl::git_describe());
#pragma once

namespace dl {

const char * git_describe();

}  // namespace dl
