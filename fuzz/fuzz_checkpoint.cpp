// checkpoint: a file's bytes -> model.h5 / dlctl.h5 -> the loader `dlctl eval`, `export`, `predict` and
// `serve` start with (load_trained_file: HDF5, the checksum, the saved spec, the attributes, the parameters),
// then one prediction on a row of zeros, as `serve` does with a new version: what the loader accepted must be
// safe to run.
#include <vector>

#include "harness.h"
#include "infer/predictor.h"
#include "model/trained_model.h"

DLCTL_FUZZ_TARGET(checkpoint) {
    const std::string path = dlctl_fuzz::scratch_file("model.h5", input);
    dl::Predictor predictor(dl::load_trained_file(path), /*threads=*/1);
    std::vector<float> row(static_cast<size_t>(predictor.input_size()), 0.0f);
    std::vector<float> out(static_cast<size_t>(predictor.output_size()));
    predictor.predict(row.data(), 1, out.data());
}
