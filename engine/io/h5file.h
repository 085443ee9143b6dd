// A checkpoint file: named float32 tensors, int64 and double scalars as HDF5 datasets (groups from the '/' in
// their names), and string attributes on the root. Written atomically (temporary name, fsync, rename) with a
// sha256 over every dataset in name order in the root attribute "checksum", which read_h5 verifies.
// Serial HDF5: call these from one thread only.
//   H5Content c;  c.tensors["params/dense/kernel"] = t;  c.ints["state/epoch"] = 3;  c.attrs["spec"] = yaml;
//   write_h5("runs/housing/1/model.h5", c);
//   H5Content back = read_h5("runs/housing/1/model.h5");    // Error(bad_input) when corrupt, missing_input when absent
#pragma once

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
// The checksum the content would get (what write_h5 stores).
std::string content_checksum(const H5Content & content);

}  // namespace dl
