// Reproducible image layers (Note [reproducible layers]): a tar built in memory from entries sorted by path,
// owned by 0:0, all with one mtime, then gzip'd with no name or time in its header.
//   LayerBuilder b(/*mtime=*/0);
//   b.add_file("usr/local/bin/dlctl", "build/dlctl-serve");    // contents and mode from the source file
//   b.add_bytes("etc/passwd", "root:x:0:0:...\n", 0644);
//   b.add_symlink("lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.2.13");
//   b.add_directory("tmp", 01777);                            // parents are added (0755) when missing
//   Layer layer = b.build();  // layer.gzip, layer.digest ("sha256:..." of gzip), layer.diff_id (of the tar)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace dl::oci {

struct Layer {
    std::string gzip;     // the blob
    std::string digest;   // "sha256:<hex>" of `gzip`
    std::string diff_id;  // "sha256:<hex>" of the uncompressed tar (the config's rootfs.diff_ids)
    int64_t tar_size = 0;
};

class LayerBuilder {
public:
    explicit LayerBuilder(int64_t mtime) : mtime_(mtime) {}
    // Paths are inside the image, without a leading slash; adding a path again replaces it.
    void add_file(const std::string & path, const std::string & source);
    void add_bytes(const std::string & path, std::string contents, unsigned mode);
    void add_symlink(const std::string & path, const std::string & target);
    void add_directory(const std::string & path, unsigned mode = 0755);
    bool contains(const std::string & path) const { return entries_.count(path) > 0; }
    Layer build() const;            // the tar, gzip'd, with both digests
    std::string write_tar() const;  // the uncompressed tar alone (a docker-archive is one)
    // The entries as files under `root` (a Docker build context); ownership is left to the builder's COPY.
    void write_tree(const std::string & root) const;

private:
    enum class Kind { file, directory, symlink };
    struct Entry {
        Kind kind = Kind::file;
        unsigned mode = 0644;
        std::string contents;  // file bytes, or a symlink's target
    };
    void add_parents(const std::string & path);
    int64_t mtime_;
    std::map<std::string, Entry> entries_;  // sorted by path: the tar's order
};

// gzip (RFC 1952) with mtime 0, no file name and a fixed level: the same bytes give the same blob.
std::string gzip_bytes(std::string_view data);

}  // namespace dl::oci
