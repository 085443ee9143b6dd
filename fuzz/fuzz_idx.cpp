// idx: a pair of IDX files (MNIST's format, plain or gzip) -> the table `dlctl train` reads (read_idx), its
// splits and normalisation. The input is the images file then the labels file: the first two bytes
// (little-endian) are the images file's length, cut to what the input holds.
#include "data/dataset.h"
#include "harness.h"

DLCTL_FUZZ_TARGET(idx) {
    if (input.size() < 2) return;
    const size_t want = static_cast<unsigned char>(input[0]) |
                        (static_cast<size_t>(static_cast<unsigned char>(input[1])) << 8);
    const std::string_view rest = input.substr(2);
    const size_t cut = std::min(want, rest.size());
    dl::DataSpec data;
    data.format = "idx";
    data.rescale = 1.0 / 255;
    data.validation_split = 0.1;
    data.normalize = "standard";
    data.images = {.path = dlctl_fuzz::scratch_file("images.idx", rest.substr(0, cut)),
                   .as_written = "images.idx",
                   .loc = {}};
    data.labels = {.path = dlctl_fuzz::scratch_file("labels.idx", rest.substr(cut)),
                   .as_written = "labels.idx",
                   .loc = {}};

    dl::Table t = dl::read_dataset(data, /*class_labels=*/true);
    const dl::Splits s = dl::make_splits(t.rows(), data, /*seed=*/42, t.test_start);
    dl::Normalizer::fit(t, s.train, data.normalize).apply(t);
}
