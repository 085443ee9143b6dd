// The IDX reader (MNIST's format), plain and gzip: shapes, labels, rescale, separate test files, and errors.
#include <doctest/doctest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/dataset.h"

namespace {

const std::filesystem::path kDir = std::filesystem::temp_directory_path() / "dlctl-test-idx";

std::string idx_bytes(const std::vector<uint32_t> & dims, const std::vector<uint8_t> & values,
                      uint8_t type = 0x08) {
    std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
    for (uint32_t d : dims)
        for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((d >> s) & 0xFF);
    out.append(values.begin(), values.end());
    return out;
}

dl::DataFile write(const std::string & name, const std::string & bytes, bool gzip) {
    std::filesystem::create_directories(kDir);
    const std::string path = (kDir / name).string();
    if (gzip) {
        gzFile f = gzopen(path.c_str(), "wb");
        gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
        gzclose(f);
    } else {
        std::ofstream(path, std::ios::binary) << bytes;
    }
    return {.path = path, .as_written = name};
}

std::vector<uint8_t> ramp(size_t n) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i % 256);
    return v;
}

}  // namespace

TEST_CASE("IDX images and labels, gzip and plain, with separate test files and rescale") {
    dl::DataSpec d;
    d.format = "idx";
    d.rescale = 0.5;
    d.images = write("train-images.gz", idx_bytes({5, 2, 3}, ramp(30)), true);
    d.labels = write("train-labels", idx_bytes({5}, {0, 1, 2, 1, 0}), false);
    d.test_images = write("test-images", idx_bytes({2, 2, 3}, ramp(12)), false);
    d.test_labels = write("test-labels.gz", idx_bytes({2}, {2, 3}), true);
    d.validation_split = 0.2;
    const dl::Table t = dl::read_dataset(d, true);
    CHECK(t.sample_shape == std::vector<int64_t>{2, 3});
    CHECK(t.num_features() == 6);
    CHECK(t.rows() == 7);
    CHECK(t.test_start == 5);
    CHECK(t.num_classes() == 4);
    CHECK(t.features[7] == doctest::Approx(3.5));  // byte 7 * 0.5
    CHECK(t.labels[6] == 3);
    CHECK(t.sha256.size() == 64);
    const dl::Splits s = dl::make_splits(t.rows(), d, 1, t.test_start);
    CHECK(s.train == std::vector<int64_t>{0, 1, 2, 3});
    CHECK(s.validation == std::vector<int64_t>{4});
    CHECK(s.test == std::vector<int64_t>{5, 6});
    std::filesystem::remove_all(kDir);
}

TEST_CASE("broken IDX files are reported with their name") {
    auto error_of = [](const dl::DataFile & images, const dl::DataFile & labels) {
        dl::DataSpec d;
        d.format = "idx";
        d.images = images;
        d.labels = labels;
        try {
            dl::read_dataset(d, true);
        } catch (const dl::Error & e) {
            CHECK(e.code() == dl::ExitCode::bad_input);
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const dl::DataFile labels = write("labels", idx_bytes({2}, {0, 1}), false);
    CHECK(
        error_of(write("bad-magic", "\x01\x02\x08\x01", false), labels).find("bad-magic: not an IDX file") ==
        0);
    CHECK(
        error_of(write("short", idx_bytes({2, 3}, ramp(5)), false), labels)
            .find("short: offset 4: the header promises 6 values ([2, 3]), the file holds 5 bytes of data") ==
        0);
    CHECK(error_of(write("three", idx_bytes({3, 2}, ramp(6)), false), labels)
              .find("three has 3 images but labels has 2") == 0);
    CHECK(error_of(write("doubles", idx_bytes({2}, ramp(16), 0x0E), false), labels).find("not supported") !=
          std::string::npos);
    std::filesystem::remove_all(kDir);
}

TEST_CASE("IDX sizes are bounded by the file's length before anything is allocated") {
    auto error_of = [](const dl::DataFile & images, const dl::DataFile & labels) {
        dl::DataSpec d;
        d.format = "idx";
        d.images = images;
        d.labels = labels;
        try {
            dl::read_dataset(d, true);
        } catch (const dl::Error & e) {
            CHECK(e.code() == dl::ExitCode::bad_input);
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const dl::DataFile labels = write("labels", idx_bytes({2}, {0, 1}), false);
    // 2^31 images of 28x28 promised by a file of 30 bytes: refused from the header, plain and gzip.
    for (bool gzip : {false, true}) {
        CAPTURE(gzip);
        const std::string e = error_of(write("huge", idx_bytes({1u << 31, 28, 28}, ramp(14)), gzip), labels);
        CHECK(e.find("huge: offset 4: the header promises 1683627180032 values ([2147483648, 28, 28])") == 0);
        CHECK(e.find(gzip ? "more than a gzip file of" : "the file holds 14 bytes of data") !=
              std::string::npos);
    }
    // Extents whose product wraps around 2^64 (to 0 here): not mistaken for an empty file.
    const std::string wrap =
        error_of(write("wrap", idx_bytes({1u << 16, 1u << 16, 1u << 16, 1u << 16, 2}, {}), false), labels);
    CHECK(wrap.find("wrap: offset 4: the header promises over 2^64 values") == 0);
    // More data than the header promises.
    CHECK(error_of(write("long", idx_bytes({2, 3}, ramp(7)), true), labels)
              .find("long: the header promises 6 values, the file holds more") == 0);
    // Labels are class indices: float labels would be cast (NaN, 1e30) into an index.
    CHECK(error_of(write("img", idx_bytes({2, 3}, ramp(6)), false),
                   write("flabels", idx_bytes({2}, ramp(8), 0x0D), false))
              .find("flabels: labels must be unsigned bytes") == 0);
    CHECK(error_of(write("none", idx_bytes({0, 3}, {}), false), write("nolabels", idx_bytes({0}, {}), false))
              .find("none: expected images [count, height, ...], got [0, 3]") == 0);
    std::filesystem::remove_all(kDir);
}
