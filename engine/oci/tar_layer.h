// Reproducible image layers (Note [reproducible layers]): a tar of entries sorted by path, owned by 0:0
// unless told otherwise, all with one mtime, gzip'd with no name or time in its header. Files are streamed
// from disk when the layer is written (Note [streamed layers]): a model file of any size costs a 1 MiB
// buffer.
//   LayerBuilder b(/*mtime=*/0);
//   b.add_file("usr/local/bin/dlctl", "build/dlctl-serve");    // contents and mode from the source file
//   b.add_bytes("etc/passwd", "root:x:0:0:...\n", 0644);
//   b.add_symlink("lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.2.13");
//   b.add_directory("tmp", 01777);                            // parents are added (0755) when missing
//   b.add_directory("home/nonroot", 0755, 65532, 65532);      // owned by the non-root user
//   Layer layer = b.build("out/blob.partial");  // the gzip'd tar written there; layer.digest, layer.diff_id
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace dl::oci {

struct Layer {
    std::filesystem::path path;  // the blob (the gzip'd tar) on disk
    std::string digest;          // "sha256:<hex>" of the blob
    std::string diff_id;         // "sha256:<hex>" of the uncompressed tar (the config's rootfs.diff_ids)
    int64_t size = 0;            // bytes of the blob
    int64_t tar_size = 0;
};

class LayerBuilder {
public:
    explicit LayerBuilder(int64_t mtime) : mtime_(mtime) {}
    // Paths are inside the image, without a leading slash; adding a path again replaces it. add_file records
    // the source's size and mode now and reads it when the layer is written (a file that changed size in
    // between is an error).
    void add_file(const std::string & path, const std::string & source);
    void add_bytes(const std::string & path, std::string contents, unsigned mode);
    void add_symlink(const std::string & path, const std::string & target);
    void add_directory(const std::string & path, unsigned mode = 0755, int uid = 0, int gid = 0);
    bool contains(const std::string & path) const { return entries_.count(path) > 0; }
    // The tar, gzip'd into `blob_path` as it is made, with both digests.
    Layer build(const std::filesystem::path & blob_path) const;
    void write_tar(const std::filesystem::path & tar_path) const;  // the uncompressed tar (a docker-archive)
    std::string write_tar() const;                                 // the same in memory (small layers, tests)
    // The entries as files under `root` (a Docker build context); ownership is left to the builder's COPY.
    void write_tree(const std::string & root) const;

private:
    enum class Kind { file, directory, symlink };
    struct Entry {
        Kind kind = Kind::file;
        unsigned mode = 0644;
        std::string contents;            // file bytes, or a symlink's target; empty for a file with a source
        std::string source;              // a file on disk whose bytes are streamed in
        int64_t size = 0;                // of the file's bytes
        uint64_t device = 0, inode = 0;  // of the source, as it was added
        int uid = 0, gid = 0;
    };
    void add_parents(const std::string & path);
    // Feeds the tar, as it is made, to `sink` in pieces.
    void stream_tar(const std::function<void(const char *, size_t)> & sink) const;
    int64_t mtime_;
    std::map<std::string, Entry> entries_;  // sorted by path: the tar's order
};

// gzip (RFC 1952) with mtime 0, no file name and a fixed level: the same bytes give the same blob.
std::string gzip_bytes(std::string_view data);

}  // namespace dl::oci
