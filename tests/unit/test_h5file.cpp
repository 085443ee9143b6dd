// Checkpoint files against damage (Note [h5 integrity]): every single-byte flip and truncation of a file is
// refused before HDF5 interprets it; attributes that decide results (seed, feature names) are covered by the
// checksum; sizes are bounded by the file's length; format-1 files still load; a trained model.h5 damaged
// anywhere either predicts exactly as before or is refused with exit 65 naming the file.
#include <doctest/doctest.h>
#include <hdf5.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "infer/predictor.h"
#include "io/h5file.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
const std::string kSource = DLCTL_SOURCE_DIR;

std::string scratch(const char * name) {
    const auto dir = fs::temp_directory_path() / fmt::format("dlctl-h5-{}-{}", name, getpid());
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir.string();
}

std::string slurp(const std::string & path) { return dl::read_file(path); }

void spit(const std::string & path, const std::string & bytes) {
    // A new file each time: ext4 flushes a file truncated and rewritten in place on close (auto_da_alloc),
    // which made thousands of rewrites take half a minute.
    fs::remove(path);
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

dl::H5Content sample_content() {
    dl::H5Content c;
    dl::Tensor kernel(dl::Shape{3, 2});
    for (int64_t i = 0; i < kernel.numel(); ++i) kernel.f32()[i] = 0.25f * static_cast<float>(i) - 0.5f;
    dl::Tensor offset(dl::Shape{3});
    for (int64_t i = 0; i < 3; ++i) offset.f32()[i] = static_cast<float>(i);
    c.tensors["params/dense/kernel"] = kernel;
    c.tensors["normalization/offset"] = offset;
    c.ints["state/epoch"] = 3;
    c.reals["state/plateau_factor"] = 0.5;
    c.attrs["format"] = "dlctl-checkpoint/2";
    c.attrs["spec"] = "name: m\nseed: 42\n";
    c.attrs["features"] = R"(["rooms","age","tax"])";
    return c;
}

// What read_h5 throws for `path`: {exit code, message}; {0, ""} when it reads the file.
std::pair<int, std::string> read_outcome(const std::string & path) {
    try {
        dl::read_h5(path);
        return {0, ""};
    } catch (const dl::Error & e) {
        return {static_cast<int>(e.code()), e.what()};
    }
}

// The integrity header for `image` as write_h5 makes it (to model an editor that also fixes the header up).
void reseal(std::string & image) {
    const std::string digest = dl::sha256_hex(std::string_view(image).substr(dl::kH5HeaderBytes));
    std::string h = fmt::format("dlctl-h5 2\nbytes {}\nsha256 {}\n", image.size(), digest);
    h.resize(dl::kH5HeaderBytes, '\0');
    std::memcpy(image.data(), h.data(), h.size());
}

void rewrite_string_attr(const std::string & path, const char * name, const std::string & value) {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
    REQUIRE(attr >= 0);
    const hid_t type = H5Aget_type(attr);
    REQUIRE(H5Tget_size(type) == value.size());
    REQUIRE(H5Awrite(attr, type, value.data()) >= 0);
    H5Tclose(type);
    H5Aclose(attr);
    REQUIRE(H5Fclose(file) >= 0);
}

// A file as dlctl wrote it before the integrity header (format 1): the HDF5 superblock at byte 0 and a
// checksum over the datasets only. `extra` adds to what the file holds.
void write_format1(const std::string & path, const dl::H5Content & c, const std::string & checksum,
                   const std::function<void(hid_t)> & extra = {}) {
    const std::string image = dl::h5_file_image(
        [&](hid_t file) {
            for (auto & [name, t] : c.tensors) {
                std::vector<hsize_t> dims;
                for (int64_t d : t.shape().dims) dims.push_back(static_cast<hsize_t>(d));
                const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
                H5Pset_create_intermediate_group(lcpl, 1);
                const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
                const hid_t ds =
                    H5Dcreate2(file, name.c_str(), H5T_NATIVE_FLOAT, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
                REQUIRE(ds >= 0);
                H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.f32());
                H5Dclose(ds);
                H5Sclose(space);
                H5Pclose(lcpl);
            }
            auto scalar = [&](const std::string & name, hid_t type, const void * value) {
                const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
                H5Pset_create_intermediate_group(lcpl, 1);
                const hid_t space = H5Screate(H5S_SCALAR);
                const hid_t ds = H5Dcreate2(file, name.c_str(), type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
                REQUIRE(ds >= 0);
                H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, value);
                H5Dclose(ds);
                H5Sclose(space);
                H5Pclose(lcpl);
            };
            for (auto & [name, v] : c.ints) scalar(name, H5T_NATIVE_INT64, &v);
            for (auto & [name, v] : c.reals) scalar(name, H5T_NATIVE_DOUBLE, &v);
            auto attr = [&](const std::string & name, const std::string & value) {
                const hid_t type = H5Tcopy(H5T_C_S1);
                H5Tset_size(type, value.size());
                const hid_t space = H5Screate(H5S_SCALAR);
                const hid_t a = H5Acreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
                H5Awrite(a, type, value.data());
                H5Aclose(a);
                H5Sclose(space);
                H5Tclose(type);
            };
            for (auto & [name, v] : c.attrs) attr(name, v);
            attr("checksum", checksum);
            if (extra) extra(file);
        },
        0, path);
    spit(path, image);
}

// The format-1 checksum: datasets only, no attribute (what read_h5 still accepts from files without the
// header).
std::string format1_checksum(const dl::H5Content & c) {
    dl::Sha256 h;
    for (auto & [name, t] : c.tensors) {
        h.update(name.data(), name.size() + 1);
        for (int64_t d : t.shape().dims) h.update(&d, sizeof d);
        h.update(t.f32(), t.bytes());
    }
    for (auto & [name, v] : c.ints) {
        h.update(name.data(), name.size() + 1);
        h.update(&v, sizeof v);
    }
    for (auto & [name, v] : c.reals) {
        h.update(name.data(), name.size() + 1);
        h.update(&v, sizeof v);
    }
    return h.hex();
}

}  // namespace

// Reads format-1 files (Note [legacy files] in io/h5file.cpp) for as long as it lives.
struct LegacyFilesTrusted {
    LegacyFilesTrusted() { ::setenv("DLCTL_READ_LEGACY_H5", "1", 1); }
    ~LegacyFilesTrusted() { ::unsetenv("DLCTL_READ_LEGACY_H5"); }
};

TEST_CASE("h5: what write_h5 writes reads back identically, behind its integrity header") {
    const std::string dir = scratch("roundtrip");
    const std::string path = dir + "/model.h5";
    const dl::H5Content c = sample_content();
    dl::write_h5(path, c);
    const std::string bytes = slurp(path);
    CHECK(bytes.rfind("dlctl-h5 2\nbytes ", 0) == 0);
    CHECK(bytes.substr(dl::kH5HeaderBytes, 4) == "\x89HDF");
    const dl::H5Content back = dl::read_h5(path);
    REQUIRE(back.tensors.size() == 2);
    CHECK(std::memcmp(back.tensors.at("params/dense/kernel").f32(), c.tensors.at("params/dense/kernel").f32(),
                      24) == 0);
    CHECK(back.ints.at("state/epoch") == 3);
    CHECK(back.reals.at("state/plateau_factor") == 0.5);
    CHECK(back.attrs.at("features") == c.attrs.at("features"));
    CHECK(back.attrs.at("checksum") == dl::content_checksum(c));
    // The same content gives the same bytes.
    dl::write_h5(dir + "/again.h5", c);
    CHECK(slurp(dir + "/again.h5") == bytes);
    fs::remove_all(dir);
}

// Before: "HDF5 failed to create attribute graph" (exit 74) exporting a model of 130 dense layers: a
// fixed-length string attribute holds at most 64 KiB.
TEST_CASE("h5: an attribute over 64 KiB reads back whole; shorter ones keep their fixed-length bytes") {
    const std::string dir = scratch("long-attr");
    dl::H5Content c = sample_content();
    const std::string short_file = dir + "/short.h5", long_file = dir + "/long.h5";
    dl::write_h5(short_file, c);
    std::string graph;
    for (int i = 0; graph.size() < 300000; ++i) graph += fmt::format("node {} = dense(node {});\n", i + 1, i);
    c.attrs["graph"] = graph;
    dl::write_h5(long_file, c);
    const dl::H5Content back = dl::read_h5(long_file);
    CHECK(back.attrs.at("graph") == graph);
    CHECK(back.attrs.at("spec") == c.attrs.at("spec"));
    CHECK(back.attrs.at("checksum") == dl::content_checksum(c));
    // Short values stay fixed-length strings, as earlier releases wrote and read them.
    auto variable_length = [](const std::string & file, const char * attribute) {
        const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        REQUIRE(f >= 0);
        const hid_t attr = H5Aopen(f, attribute, H5P_DEFAULT);
        const hid_t type = H5Aget_type(attr);
        const bool variable = H5Tis_variable_str(type) > 0;
        H5Tclose(type);
        H5Aclose(attr);
        H5Fclose(f);
        return variable;
    };
    CHECK_FALSE(variable_length(short_file, "spec"));
    CHECK_FALSE(variable_length(long_file, "spec"));
    CHECK(variable_length(long_file, "graph"));
    fs::remove_all(dir);
}

TEST_CASE("h5: every single-byte flip and truncation is refused (exit 65, naming the file)") {
    const std::string dir = scratch("flips");
    const std::string good = dir + "/good.h5", bad = dir + "/bad.h5";
    dl::write_h5(good, sample_content());
    const std::string bytes = slurp(good);
    int refused = 0, tried = 0;
    auto expect_refused = [&](const std::string & damaged, const std::string & what) {
        spit(bad, damaged);
        ++tried;
        const auto [code, message] = read_outcome(bad);
        if (code == 65 && message.find(bad) != std::string::npos) {
            ++refused;
        } else {
            FAIL_CHECK(what << ": exit " << code << " " << message);
        }
    };
    for (size_t at = 0; at < bytes.size(); ++at) {
        std::string damaged = bytes;
        damaged[at] = static_cast<char>(damaged[at] ^ (at % 2 ? 0x01 : 0xFF));
        expect_refused(damaged, fmt::format("flip at {}", at));
    }
    for (size_t n = 0; n < bytes.size(); n += 53)
        expect_refused(bytes.substr(0, n), fmt::format("first {} bytes", n));
    expect_refused(bytes.substr(0, bytes.size() - 1), "last byte cut");
    expect_refused(bytes + std::string(1, '\0'), "a byte added");
    MESSAGE(fmt::format("{} of {} damaged copies of a {}-byte file refused", refused, tried, bytes.size()));
    CHECK(refused == tried);
    fs::remove_all(dir);
}

TEST_CASE(
    "h5: an attribute changed inside the file (seed, feature order) is refused, header fixed up or not") {
    const std::string dir = scratch("attrs");
    const std::string path = dir + "/model.h5";
    for (auto [name, value] : {std::pair{"spec", std::string("name: m\nseed: 43\n")},
                               std::pair{"features", std::string(R"(["rooms","tax","age"])")}}) {
        dl::write_h5(path, sample_content());
        rewrite_string_attr(path, name, value);  // as h5py's attrs[...] = would, in place
        auto [code, message] = read_outcome(path);
        CHECK(code == 65);
        CHECK(message.find("checksum mismatch") != std::string::npos);
        // An editor that also recomputes the header: the checksum inside, over every attribute, still refuses
        // it.
        std::string image = slurp(path);
        reseal(image);
        spit(path, image);
        std::tie(code, message) = read_outcome(path);
        CHECK(code == 65);
        CHECK(message.find(path + ": checksum mismatch") != std::string::npos);
    }
    fs::remove_all(dir);
}

TEST_CASE(
    "h5: format-1 files (no header) load only when trusted; one that says format 2 without it is refused") {
    const std::string dir = scratch("format1");
    const std::string path = dir + "/model.h5";
    dl::H5Content c = sample_content();
    c.attrs["format"] = "dlctl-checkpoint/1";
    write_format1(path, c, format1_checksum(c));
    // Per Note [legacy files], unverified bytes reach libhdf5 only when the user opts in.
    ::unsetenv("DLCTL_READ_LEGACY_H5");
    {
        auto [code, message] = read_outcome(path);
        CHECK(code == 65);
        CHECK(message.find("DLCTL_READ_LEGACY_H5=1") != std::string::npos);
    }
    const LegacyFilesTrusted trusted;
    const dl::H5Content back = dl::read_h5(path);
    CHECK(back.attrs.at("spec") == c.attrs.at("spec"));
    CHECK(back.tensors.count("params/dense/kernel") == 1);

    c.attrs["format"] = "dlctl-checkpoint/2";
    write_format1(path, c, format1_checksum(c));
    auto [code, message] = read_outcome(path);
    CHECK(code == 65);
    CHECK(message.find("integrity header is missing") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE(
    "h5: a dataset claiming more elements than the file holds is refused before anything is allocated") {
    const std::string dir = scratch("huge");
    const std::string path = dir + "/model.h5";
    const LegacyFilesTrusted trusted;
    dl::H5Content c = sample_content();
    c.attrs["format"] = "dlctl-checkpoint/1";
    // 2^40 floats (4 TiB) declared, stored in chunks never written: the file stays a few KiB.
    write_format1(path, c, format1_checksum(c), [](hid_t file) {
        const hsize_t dims[1] = {hsize_t{1} << 40}, chunk[1] = {1024};
        const hid_t space = H5Screate_simple(1, dims, nullptr);
        const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 1, chunk);
        const hid_t ds =
            H5Dcreate2(file, "params/huge", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        REQUIRE(ds >= 0);
        H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(space);
    });
    CHECK(fs::file_size(path) < 64 * 1024);
    const auto t0 = std::chrono::steady_clock::now();
    auto [code, message] = read_outcome(path);
    CHECK(code == 65);
    CHECK(message.find("more elements than the file holds") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    fs::remove_all(dir);
}

namespace {

// Loads `bytes` damaged at every 37th byte and cut at every 211th, as `damaged_path`: each must load with
// exactly `expected` predictions or be refused with exit 65 naming the file.
void damage_and_load(const std::string & bytes, const std::string & damaged_path,
                     const std::vector<float> & expected, const char * what) {
    std::vector<float> rows(13 * 4);
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>((i * 7) % 23);
    int same = 0, refused = 0, tried = 0;
    auto attempt = [&](const std::string & damaged, const std::string & how) {
        spit(damaged_path, damaged);
        ++tried;
        try {
            dl::Predictor p(dl::load_trained_file(damaged_path), 1);
            std::vector<float> out(4 * static_cast<size_t>(p.output_size()));
            p.predict(rows.data(), 4, out.data());
            if (out == expected)
                ++same;
            else
                FAIL_CHECK(how << ": loaded with different predictions");
        } catch (const dl::Error & e) {
            if (e.code() == dl::ExitCode::bad_input &&
                std::string(e.what()).find(damaged_path) != std::string::npos)
                ++refused;
            else
                FAIL_CHECK(how << ": exit " << static_cast<int>(e.code()) << " " << e.what());
        } catch (const std::exception & e) {
            FAIL_CHECK(how << ": " << e.what());
        }
    };
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t at = 0; at < bytes.size(); at += 37) {
        std::string damaged = bytes;
        damaged[at] = static_cast<char>(damaged[at] ^ 0x5A);
        attempt(damaged, fmt::format("flip at {}", at));
    }
    for (size_t n = 0; n < bytes.size(); n += 211)
        attempt(bytes.substr(0, n), fmt::format("first {} bytes", n));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(fmt::format("{}, {} bytes: {} damaged copies, {} refused, {} identical, in {:.2f} s", what,
                        bytes.size(), tried, refused, same, seconds));
    CHECK(refused + same == tried);
}

std::vector<float> predictions_of(const std::string & path) {
    std::vector<float> rows(13 * 4);
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>((i * 7) % 23);
    dl::Predictor p(dl::load_trained_file(path), 1);
    std::vector<float> out(4 * static_cast<size_t>(p.output_size()));
    p.predict(rows.data(), 4, out.data());
    return out;
}

}  // namespace

TEST_CASE("h5: a trained model.h5 damaged at every 37th byte and cut short: same predictions or exit 65") {
    const std::string dir = scratch("trained");
    class Quiet final : public dl::TrainObserver {
    } quiet;
    const dl::TrainResult r = dl::train({.spec_path = kSource + "/configs/housing.yaml",
                                         .overrides = {"train.epochs=2"},
                                         .runs_flag = dir + "/runs",
                                         .threads = 1},
                                        quiet);
    const std::vector<float> expected = predictions_of(r.checkpoint);
    damage_and_load(slurp(r.checkpoint), dir + "/damaged.h5", expected, "model.h5 (format 2)");

    // The same model as dlctl wrote it before the integrity header (format 1): read without walking the
    // attribute list, sizes bounded; what loads must predict exactly the same.
    dl::H5Content c = dl::read_h5(r.checkpoint);
    c.attrs["format"] = "dlctl-checkpoint/1";
    c.attrs.erase("checksum");
    const std::string legacy = dir + "/legacy.h5";
    write_format1(legacy, c, format1_checksum(c));
    const LegacyFilesTrusted trusted;
    REQUIRE(predictions_of(legacy) == expected);
#if defined(__SANITIZE_ADDRESS__)
    // Damaged format-1 files are the opted-in, unverified path: libhdf5's own over-reads on them are what
    // Note [legacy files] keeps away from every default read, not something this build can check.
    MESSAGE("skipped under AddressSanitizer: damaged format-1 files reach libhdf5 unverified by design");
#else
    damage_and_load(slurp(legacy), dir + "/damaged.h5", expected, "model.h5 (format 1)");
#endif
    fs::remove_all(dir);
}
