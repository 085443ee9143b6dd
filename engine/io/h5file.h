// A checkpoint file: named float32 tensors, int64 and double scalars as HDF5 datasets (groups from the '/' in
// their names), and string attributes on the root. Serial HDF5: call these from one thread only.
//   H5Content c;  c.tensors["params/dense/kernel"] = t;  c.ints["state/epoch"] = 3;  c.attrs["spec"] = yaml;
//   write_h5("runs/housing/1/model.h5", c);
//   H5Content back = read_h5("runs/housing/1/model.h5");  // Error(bad_input) corrupt, (missing_input) absent
//
// Note [h5 integrity]: HDF5 itself crashes, loops or allocates gigabytes on some corrupt files (a flipped
// byte in the attribute heap segfaults inside H5Aiterate2), so a file must be proven intact before HDF5
// interprets any of it. write_h5 reserves a 512-byte HDF5 user block (which HDF5 skips: it looks for its
// superblock at 0, 512, 1024...) and fills it with a plain-text header:
//     dlctl-h5 2\nbytes <file length>\nsha256 <hex sha256 of every byte after the header>\n
// then NUL padding.
// read_h5 checks that header over the raw bytes first and opens the file with HDF5 only when it matches, so
// every byte of the file (datasets, attributes, HDF5 metadata) is covered and a corrupt or truncated file is
// refused before HDF5 sees it. Inside, the "checksum" attribute additionally covers every dataset and
// attribute by name. Files written before this header existed ("format 1": the HDF5 superblock at byte 0)
// still load, through the same bounded reader, with only their dataset checksum to vouch for them.
//
// The file is built in memory (HDF5's core driver, no backing store) and written with our own atomic write
// (temporary name, fsync, rename): a full disk fails in a plain write(2), never inside HDF5's flush or close,
// so no HDF5 handle outlives the error and nothing is left for HDF5 to close at exit.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/tensor.h"

namespace dl {

struct H5Content {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, int64_t> ints;
    std::map<std::string, double> reals;
    std::map<std::string, std::string> attrs;
};

void write_h5(const std::string & path, const H5Content & content);
H5Content read_h5(const std::string & path);
// The checksum the content would get (what write_h5 stores): every dataset and every attribute but
// "checksum".
std::string content_checksum(const H5Content & content);

// The bytes of an HDF5 file built in memory: `fill` receives the file's hid_t and creates what it holds.
// `userblock` bytes (0, or a power of two >= 512) are reserved, zeroed, at the start. Error(io) naming `path`
// when HDF5 fails.
std::string h5_file_image(const std::function<void(int64_t file)> & fill, size_t userblock,
                          const std::string & path);

// The size of the integrity header write_h5 puts in front of the HDF5 data.
inline constexpr size_t kH5HeaderBytes = 512;

}  // namespace dl
