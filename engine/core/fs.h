// Files dlctl writes never exist half-written: write to NAME.tmp-XXXXXX beside NAME, fsync, rename, fsync the
// folder (docs/ARCHITECTURE.md §7).
//   write_file_atomic("runs/housing/1/meta.json", text);
//   std::string tmp = temp_path_for(path); ... write tmp ...; commit_temp_file(tmp, path);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dl {

void write_file_atomic(const std::string & path, std::string_view content);
std::string temp_path_for(const std::string & path);                       // unique name in the same folder
void commit_temp_file(const std::string & tmp, const std::string & path);  // fsync + rename + fsync folder
void fsync_path(const std::string & path);
std::string read_file(const std::string & path);  // exit 66 when missing/unreadable
bool file_exists(const std::string & path);

// Note [version directories under construction]: a version directory (export, pull) is built under the
// dot-prefixed name temp_dir_name(version) beside it, ".tmp-<version>-<pid>", so servers watching the base
// directory skip it until it is renamed into place (".tmp-<version>-<pid>.old" while an old one is swapped
// out). remove_abandoned_temp_dirs removes those in `dir` whose process is gone (killed mid-way).
std::string temp_dir_name(int64_t version);
void remove_abandoned_temp_dirs(const std::string & dir);

}  // namespace dl
