// Image layers (oci/tar_layer.h) and references (oci/image_layout.h): the tar read back with
// libarchive is sorted, owned by root and timed as asked, gzip's header holds no time or name, the digests
// are of the bytes, and the same entries give the same blob whatever order they were added in.
#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "oci/image_layout.h"
#include "oci/tar_layer.h"

namespace {

struct TarEntry {
    std::string path;
    int64_t uid, gid, mtime;
    unsigned mode;  // type and permission bits
    std::string contents_or_target;
};

std::vector<TarEntry> read_tar(const std::string & tar) {
    std::vector<TarEntry> out;
    struct archive * a = archive_read_new();
    archive_read_support_format_tar(a);
    REQUIRE(archive_read_open_memory(a, tar.data(), tar.size()) == ARCHIVE_OK);
    struct archive_entry * e = nullptr;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        TarEntry t{.path = archive_entry_pathname(e),
                   .uid = archive_entry_uid(e),
                   .gid = archive_entry_gid(e),
                   .mtime = archive_entry_mtime(e),
                   .mode = archive_entry_mode(e)};
        if (archive_entry_filetype(e) == AE_IFLNK) {
            t.contents_or_target = archive_entry_symlink(e);
        } else {
            t.contents_or_target.resize(static_cast<size_t>(archive_entry_size(e)));
            if (!t.contents_or_target.empty())
                archive_read_data(a, t.contents_or_target.data(), t.contents_or_target.size());
        }
        out.push_back(t);
    }
    archive_read_free(a);
    return out;
}

dl::oci::LayerBuilder sample(bool reversed) {
    dl::oci::LayerBuilder b(1700000000);
    if (reversed) {
        b.add_directory("tmp", 01777);
        b.add_symlink("lib/libz.so.1", "libz.so.1.2.13");
        b.add_bytes("etc/passwd", "root:x:0:0::/:/sbin/nologin\n", 0644);
    } else {
        b.add_bytes("etc/passwd", "root:x:0:0::/:/sbin/nologin\n", 0644);
        b.add_symlink("lib/libz.so.1", "libz.so.1.2.13");
        b.add_directory("tmp", 01777);
    }
    return b;
}

// A scratch directory removed when the test ends.
struct ScratchDir {
    std::filesystem::path path;
    ScratchDir() {
        path = std::filesystem::temp_directory_path() / ("dlctl-test-oci-" + std::to_string(::getpid()));
        std::filesystem::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

dl::oci::Layer build(const dl::oci::LayerBuilder & b, const ScratchDir & dir,
                     const std::string & name = "blob") {
    return b.build(dir.path / name);
}

}  // namespace

TEST_CASE("a layer is a sorted tar owned by root with one mtime, and its digests are of its bytes") {
    ScratchDir dir;
    const dl::oci::Layer layer = build(sample(false), dir);
    const std::string tar = sample(false).write_tar();
    const std::string gzip = dl::read_file(layer.path.string());
    CHECK(layer.diff_id == "sha256:" + dl::sha256_hex(tar));
    CHECK(layer.digest == "sha256:" + dl::sha256_hex(gzip));
    CHECK(layer.size == static_cast<int64_t>(gzip.size()));
    CHECK(layer.tar_size == static_cast<int64_t>(tar.size()));

    const std::vector<TarEntry> entries = read_tar(tar);
    std::vector<std::string> paths;
    for (const TarEntry & e : entries) {
        paths.push_back(e.path);
        CHECK(e.uid == 0);
        CHECK(e.gid == 0);
        CHECK(e.mtime == 1700000000);
    }
    // Parents are added, directories end in '/', and the order is by path.
    CHECK(paths == std::vector<std::string>{"etc/", "etc/passwd", "lib/", "lib/libz.so.1", "tmp/"});
    CHECK((entries[1].mode & 07777) == 0644);
    CHECK(entries[1].contents_or_target == "root:x:0:0::/:/sbin/nologin\n");
    CHECK(entries[3].contents_or_target == "libz.so.1.2.13");
    CHECK((entries[4].mode & 07777) == 01777);
}

TEST_CASE("the same entries give the same blob, whatever order they were added in") {
    ScratchDir dir;
    CHECK(build(sample(false), dir, "a").digest == build(sample(true), dir, "b").digest);
}

TEST_CASE("a file is streamed from disk when the layer is written, and must not change size meanwhile") {
    ScratchDir dir;
    const std::string source = (dir.path / "weights.bin").string();
    std::string bytes(3 << 20, '\0');  // over the 1 MiB read buffer: several pieces
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 24);
    dl::write_file_atomic(source, bytes);
    dl::oci::LayerBuilder b(0);
    b.add_file("models/m/1/weights.bin", source);
    const std::vector<TarEntry> entries = read_tar(b.write_tar());
    REQUIRE(entries.size() == 4);
    CHECK(entries[3].contents_or_target == bytes);
    const dl::oci::Layer layer = build(b, dir);
    CHECK(layer.tar_size > static_cast<int64_t>(bytes.size()));

    std::ofstream(source, std::ios::app) << "more";  // grew after it was added
    try {
        build(b, dir, "grown");
        FAIL("a file that grew was packaged");
    } catch (const dl::Error & e) {
        CHECK(e.code() == dl::ExitCode::bad_input);
        CHECK(std::string(e.what()).find("weights.bin") != std::string::npos);
    }
}

TEST_CASE("a directory can be owned by another user than root (the image's /home/nonroot)") {
    dl::oci::LayerBuilder b(0);
    b.add_directory("home/nonroot", 0755, 65532, 65532);
    const std::vector<TarEntry> entries = read_tar(b.write_tar());
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].path == "home/");
    CHECK(entries[0].uid == 0);
    CHECK(entries[1].path == "home/nonroot/");
    CHECK(entries[1].uid == 65532);
    CHECK(entries[1].gid == 65532);
}

TEST_CASE("gzip's header carries no time and no name") {
    const std::string gz = dl::oci::gzip_bytes("hello");
    REQUIRE(gz.size() > 10);
    CHECK(static_cast<unsigned char>(gz[0]) == 0x1f);
    CHECK(static_cast<unsigned char>(gz[1]) == 0x8b);
    CHECK((gz[3] & 0x08) == 0);                      // FNAME
    CHECK(gz.substr(4, 4) == std::string(4, '\0'));  // MTIME
    CHECK(gz == dl::oci::gzip_bytes("hello"));
}

TEST_CASE("image references are NAME:TAG in the distribution grammar; others are usage errors (2)") {
    const dl::oci::ImageReference r =
        dl::oci::parse_image_reference("registry.example.com:5000/team/housing:v1.2");
    CHECK(r.name == "registry.example.com:5000/team/housing");
    CHECK(r.tag == "v1.2");
    CHECK(dl::oci::parse_image_reference("housing:1").tag == "1");
    for (const char * bad :
         {"housing", "Housing:1", "housing:", "housing:a b", "localhost:5000/housing", "housing:-x"}) {
        CAPTURE(bad);
        try {
            dl::oci::parse_image_reference(bad);
            FAIL("accepted");
        } catch (const dl::Error & e) {
            CHECK(e.code() == dl::ExitCode::usage);
        }
    }
}
