// CSV reading, Keras/scikit-learn split semantics, normalisation from the training rows, label mapping.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/dataset.h"

namespace {

dl::DataSpec data_of(const std::string & file, std::vector<std::string> targets) {
    dl::DataSpec d;
    d.path = std::string(DLCTL_SOURCE_DIR) + "/datasets/" + file;
    d.path_as_written = file;
    d.targets = std::move(targets);
    return d;
}

}  // namespace

TEST_CASE("housing: 506 rows, 13 features; test 0.3 and validation 0.2 give 152 / 283 / 71") {
    dl::DataSpec d = data_of("housing.csv", {"MEDV"});
    d.test_split = 0.3;
    d.validation_split = 0.2;
    const dl::Table t = dl::read_csv(d, false);
    CHECK(t.rows() == 506);
    CHECK(t.num_features() == 13);
    CHECK(t.targets[0] == doctest::Approx(24.0));
    const dl::Splits s = dl::make_splits(t.rows(), d, 42);
    CHECK(s.test.size() == 152);
    CHECK(s.train.size() == 283);
    CHECK(s.validation.size() == 71);
    // Disjoint and complete.
    std::vector<int> seen(506, 0);
    for (auto * part : {&s.train, &s.validation, &s.test})
        for (int64_t r : *part) ++seen[static_cast<size_t>(r)];
    CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    // Seeded: the same seed gives the same split, another seed another one.
    CHECK(dl::make_splits(t.rows(), d, 42).test == s.test);
    CHECK(dl::make_splits(t.rows(), d, 43).test != s.test);
}

TEST_CASE("standard normalisation uses the training rows only") {
    dl::DataSpec d = data_of("housing.csv", {"MEDV"});
    d.test_split = 0.3;
    dl::Table t = dl::read_csv(d, false);
    const dl::Splits s = dl::make_splits(t.rows(), d, 1);
    const dl::Normalizer n = dl::Normalizer::fit(t, s.train, "standard");
    n.apply(t);
    double mean = 0, var = 0;
    for (int64_t r : s.train) mean += t.features[static_cast<size_t>(r * 13 + 5)];
    mean /= static_cast<double>(s.train.size());
    for (int64_t r : s.train) var += std::pow(t.features[static_cast<size_t>(r * 13 + 5)] - mean, 2);
    CHECK(mean == doctest::Approx(0.0).epsilon(1e-5));
    CHECK(var / static_cast<double>(s.train.size()) == doctest::Approx(1.0).epsilon(1e-4));
}

TEST_CASE("string class labels map to indices in order of first appearance; a saved mapping is reused") {
    const dl::Table t = dl::read_csv(data_of("iris.csv", {"species"}), true);
    CHECK(t.rows() == 150);
    CHECK(t.class_names == std::vector<std::string>{"setosa", "versicolor", "virginica"});
    CHECK(t.labels[0] == 0);
    CHECK(t.labels[149] == 2);
    const dl::Table again =
        dl::read_csv(data_of("iris.csv", {"species"}), true, {"virginica", "setosa", "versicolor"});
    CHECK(again.labels[0] == 1);
    const dl::Table digits = dl::read_csv(data_of("digits.csv", {"digit"}), true);
    CHECK(digits.num_classes() == 10);
    CHECK(digits.class_names[3] == "3");
}

TEST_CASE("bad rows name the file, row and column") {
    const auto dir = std::filesystem::temp_directory_path() / "dlctl-test-data";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "bad.csv").string();
    std::ofstream(path) << "a,b,y\n1,2,3\n4,x,6\n";
    dl::DataSpec d;
    d.path = path;
    d.targets = {"y"};
    try {
        dl::read_csv(d, false);
        FAIL("no error");
    } catch (const dl::Error & e) {
        CHECK(e.code() == dl::ExitCode::bad_input);
        CHECK(std::string(e.what()).find("bad.csv:3:3: column 'b': 'x' is not a number") !=
              std::string::npos);
    }
    std::filesystem::remove_all(dir);
}

namespace {

// Writes `bytes` as a CSV in a scratch folder and reads it; returns the error message, or "" when it reads.
std::string csv_error(const std::string & bytes, std::vector<std::string> targets, bool class_labels = false,
                      dl::Table * table = nullptr) {
    const auto dir = std::filesystem::temp_directory_path() / "dlctl-test-data-limits";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "t.csv").string();
    std::ofstream(path, std::ios::binary) << bytes;
    dl::DataSpec d;
    d.path = path;
    d.targets = std::move(targets);
    std::string message;
    try {
        dl::Table t = dl::read_csv(d, class_labels);
        if (table) *table = std::move(t);
    } catch (const dl::Error & e) {
        CHECK(e.code() == dl::ExitCode::bad_input);
        message = e.what();
    }
    std::filesystem::remove_all(dir);
    return message;
}

}  // namespace

TEST_CASE(
    "the header: a UTF-8 byte order mark is skipped; Latin-1 and duplicate names are refused at their "
    "place") {
    dl::Table t;
    CHECK(csv_error("\xEF\xBB\xBFx1,x2,y\n1,2,3\n", {"y"}, false, &t).empty());
    CHECK(t.feature_names == std::vector<std::string>{"x1", "x2"});
    CHECK(csv_error("x1,caf\xe9,y\n1,2,3\n", {"y"}).find("t.csv:1:7: the header is not UTF-8 (byte 0xe9)") !=
          std::string::npos);
    CHECK(csv_error("x1,x2,x1,y\n1,2,3,4\n", {"y"}).find("t.csv:1:7: column 3 is named 'x1' like column 1") !=
          std::string::npos);
    CHECK(csv_error("a,b,y\n1,2,caf\xe9\n", {"y"}, true).find("class name is not UTF-8 (byte 0xe9)") !=
          std::string::npos);
}

TEST_CASE("names that a model file cannot store are refused as the data is read, not after training") {
    std::string header, row;
    for (int c = 0; c < 10000; ++c) {
        header += fmt::format("c{},", c);
        row += "1,";
    }
    const std::string e = csv_error(header + "y\n" + row + "2\n", {"y"});
    CHECK(e.find("t.csv: the 10000 feature names take 78892 bytes as a model file stores them, over the "
                 "limit of 60000") != std::string::npos);
    std::string ok_header, ok_row;  // 3,000 columns fit
    for (int c = 0; c < 3000; ++c) {
        ok_header += fmt::format("c{},", c);
        ok_row += "1,";
    }
    CHECK(csv_error(ok_header + "y\n" + ok_row + "2\n", {"y"}).empty());
    // Numeric class labels name classes 0..max: at most 5,000 of them (their names fit in a model file).
    CHECK(csv_error("a,y\n1,4999\n", {"y"}, true).empty());
    CHECK(csv_error("a,y\n1,5000\n", {"y"}, true).find("must be a whole number from 0 to 4999") !=
          std::string::npos);
    // Named classes: the names' bytes.
    std::string named = "a,y\n";
    for (int i = 0; i < 3000; ++i) named += fmt::format("1,class-with-a-long-name-{}\n", i);
    CHECK(csv_error(named, {"y"}, true).find("the 3000 class names take") != std::string::npos);
}
