// Tabular data for training: features as f32 [rows, features], targets as f32 [rows, targets] or int32 class
// labels [rows]; seeded splits (Keras semantics for validation_split) and normalisation statistics.
//   Table t = read_dataset(spec.data, /*class_labels=*/true);  // CSV or IDX
//   // test held out, validation = the last part of the rest:
//   Splits s = make_splits(t.rows(), spec.data, spec.seed, t.test_start);
//   Normalizer n = Normalizer::fit(t, s.train, "standard");  n.apply(t);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "spec/spec.h"

namespace dl {

struct Table {
    std::vector<int64_t> sample_shape;  // one sample's shape: [features] for CSV, [28, 28] for MNIST images
    int64_t test_start = -1;            // rows from here on come from separate test files (IDX)
    std::vector<std::string> feature_names;  // CSV columns
    std::vector<std::string> target_names;
    std::vector<float> features;           // row-major [rows, features]
    std::vector<float> targets;            // row-major [rows, targets] (regression)
    std::vector<int32_t> labels;           // [rows] (classification)
    std::vector<std::string> class_names;  // index -> name; numeric labels keep their number as name
    bool classification = false;
    std::string sha256;  // of the file's bytes

    int64_t rows() const {
        return static_cast<int64_t>(classification
                                        ? labels.size()
                                        : (target_names.empty() ? 0 : targets.size() / target_names.size()));
    }
    int64_t num_features() const {
        int64_t n = 1;
        for (int64_t d : sample_shape) n *= d;
        return n;
    }
    int64_t num_targets() const { return static_cast<int64_t>(target_names.size()); }
    int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
};

// What a model file can keep (README "The spec"): feature, target and class names are stored as JSON in one
// HDF5 attribute each, and an attribute holds at most 64 KiB; checked as the data is read, before training
// starts.
constexpr size_t kMaxStoredNamesBytes = 60000;
constexpr int64_t kMaxClasses = 5000;  // numeric class labels 0..4999; named classes as many at most

// The names as they are stored (a JSON array); throws Error(bad_input) naming `file` and `what` ("feature
// names") when that is over kMaxStoredNamesBytes.
void check_storable_names(const std::vector<std::string> & names, const std::string & file, const char * what,
                          const std::string & hint);

// Reads a CSV as the spec's data section says. With `class_labels`, the (single) target column holds class
// labels: strings are mapped to indices in order of first appearance unless `known_classes` fixes the mapping
// (a saved model's); numbers must be whole and >= 0. Bad rows are errors naming file, row and column (exit
// 65). The header is UTF-8 (a byte order mark is skipped) with distinct column names.
Table read_csv(const DataSpec & data, bool class_labels, const std::vector<std::string> & known_classes = {});
// Reads IDX files (the MNIST format, plain or gzip): images [n, ...] of uint8 or float32, labels [n] of
// uint8; the test files, when given, are appended and marked by test_start. Errors name the file (exit 65).
Table read_idx(const DataSpec & data);
// The spec's data in either format, with data.rescale applied.
Table read_dataset(const DataSpec & data, bool class_labels,
                   const std::vector<std::string> & known_classes = {});

struct Splits {
    std::vector<int64_t> train, validation, test;  // row indices
};

// test: a seeded shuffle of all rows, the first ceil(test_split * n) held out (as scikit-learn's
// train_test_split); validation: the last floor(validation_split * rest) of the training part, unshuffled
// (Keras' validation_split). With test_start >= 0 the test split is rows [test_start, rows) (separate test
// files) and test_split is unused.
Splits make_splits(int64_t rows, const DataSpec & data, uint64_t seed, int64_t test_start = -1);

struct Normalizer {
    std::string method = "none";
    std::vector<float> offset, scale;  // x' = (x - offset) / scale

    static Normalizer fit(const Table & t, const std::vector<int64_t> & rows, const std::string & method);
    void apply(Table & t) const;
};

}  // namespace dl
