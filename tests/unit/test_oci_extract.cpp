// Unpacking part of a registry's layer (extract_layer_directory in oci/base_image.h, what `dlctl pull` unpacks a
// model with): only files and directories below the asked directory are written, without set-id bits; a link,
// device, FIFO, whiteout or '..' entry there is refused (65) naming it, and nothing lands outside the destination.
#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "oci/base_image.h"

namespace fs = std::filesystem;

namespace {

struct Entry {
    std::string path;
    unsigned type = AE_IFREG;
    unsigned mode = 0644;
    std::string contents;   // a file's bytes, or a symbolic link's target
    std::string hard_link;  // a hard link's target
};

// A gzip'd tar of `entries` at `path`, as a registry would send it.
dl::oci::PulledLayer write_layer(const fs::path & path, const std::vector<Entry> & entries) {
    struct archive * a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
    for (const Entry & e : entries) {
        struct archive_entry * ae = archive_entry_new();
        archive_entry_set_pathname(ae, e.path.c_str());
        archive_entry_set_filetype(ae, e.type);
        archive_entry_set_perm(ae, e.mode);
        if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.contents.c_str());
        if (!e.hard_link.empty()) archive_entry_set_hardlink(ae, e.hard_link.c_str());
        const bool has_data = e.type == AE_IFREG && e.hard_link.empty();
        if (has_data) archive_entry_set_size(ae, static_cast<la_int64_t>(e.contents.size()));
        REQUIRE(archive_write_header(a, ae) == ARCHIVE_OK);
        if (has_data) archive_write_data(a, e.contents.data(), e.contents.size());
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    return {.media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            .digest = "sha256:test",
            .size = static_cast<int64_t>(fs::file_size(path)),
            .path = path};
}

struct Scratch {
    fs::path dir = fs::temp_directory_path() / ("dlctl-extract-" + std::to_string(::getpid()));
    Scratch() {
        fs::remove_all(dir);
        fs::create_directories(dir / "dest");
    }
    ~Scratch() { fs::remove_all(dir); }
};

std::vector<std::string> tree(const fs::path & root) {
    std::vector<std::string> out;
    for (const auto & e : fs::recursive_directory_iterator(root))
        out.push_back(e.path().lexically_relative(root).string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("only the files and directories below the directory asked for are unpacked, without set-id bits") {
    Scratch s;
    const auto layer =
        write_layer(s.dir / "layer.tar.gz",
                    {{.path = "etc/passwd", .contents = "root:x:0:0::/:/bin/sh\n"},
                     {.path = "models/m/labels.json", .contents = "{\"stable\": 1}\n"},
                     {.path = "models/m/1/", .type = AE_IFDIR, .mode = 0755},
                     {.path = "models/m/1/dlctl.h5", .contents = "weights"},
                     {.path = "./models/m/1/assets/vocab.txt", .mode = 04755, .contents = "a\nb\n"},
                     {.path = "models/m/10/dlctl.h5", .contents = "another version"}});
    const dl::oci::ExtractedFiles got = dl::oci::extract_layer_directory(layer, "models/m/1", s.dir / "dest");
    CHECK(got.files == 2);
    CHECK(got.bytes == 11);
    CHECK(tree(s.dir / "dest") == std::vector<std::string>{"assets", "assets/vocab.txt", "dlctl.h5"});
    CHECK(dl::read_file((s.dir / "dest/dlctl.h5").string()) == "weights");
    struct stat st {};
    REQUIRE(::stat((s.dir / "dest/assets/vocab.txt").c_str(), &st) == 0);
    CHECK((st.st_mode & 07000) == 0);
}

TEST_CASE("a link, device, FIFO, whiteout or '..' entry is refused naming it, and nothing lands outside") {
    const std::vector<std::pair<Entry, std::string>> hostile = {
        {{.path = "models/m/1/alias", .type = AE_IFLNK, .contents = "/etc/shadow"}, "is a symbolic link"},
        {{.path = "models/m/1/hard", .hard_link = "etc/passwd"}, "is a hard link"},
        {{.path = "models/m/1/fifo", .type = AE_IFIFO}, "is not a regular file or directory"},
        {{.path = "models/m/1/dev", .type = AE_IFCHR}, "is not a regular file or directory"},
        {{.path = "models/m/1/.wh.dlctl.h5"}, "is a whiteout"},
        {{.path = "models/m/1/../../../../escaped", .contents = "x"}, "has a '..' component"},
    };
    for (const auto & [entry, why] : hostile) {
        CAPTURE(entry.path);
        Scratch s;
        const auto layer =
            write_layer(s.dir / "layer.tar.gz", {{.path = "etc/passwd", .contents = "root\n"}, entry});
        try {
            dl::oci::extract_layer_directory(layer, "models/m/1", s.dir / "dest");
            FAIL("not refused");
        } catch (const dl::Error & e) {
            CHECK(e.code() == dl::ExitCode::bad_input);
            CHECK(std::string(e.what()).find("layer sha256:test: entry '") != std::string::npos);
            CHECK(std::string(e.what()).find(why) != std::string::npos);
        }
        CHECK(tree(s.dir) == std::vector<std::string>{"dest", "layer.tar.gz"});
    }
}
