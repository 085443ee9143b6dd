#include "io/h5file.h"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"

namespace dl {

static_assert(std::is_same_v<hid_t, int64_t>, "h5_file_image passes hid_t as int64_t");

namespace {

constexpr char kHdf5Signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
constexpr std::string_view kHeaderMagic = "dlctl-h5 ";
constexpr int kHeaderVersion = 2;
constexpr int kMaxRank = 32;

// The attributes dlctl has ever written. A legacy file (no integrity header) is read by these names only:
// walking the attribute list of an unverified file (H5Aiterate2) is where corrupt metadata crashed HDF5.
const char * const kKnownAttributes[] = {"format",   "dlctl_version", "name",         "version",
                                         "spec",     "classes",       "features",     "sample_shape",
                                         "targets",  "normalization", "metrics",      "graph",
                                         "checksum", "data_sha256",   "data_location"};

// Owns an HDF5 identifier and closes it with the matching function.
struct H5Id {
    hid_t id = -1;
    herr_t (*close)(hid_t) = nullptr;
    H5Id(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
    ~H5Id() {
        if (id >= 0 && close) close(id);
    }
    H5Id(const H5Id &) = delete;
    H5Id & operator=(const H5Id &) = delete;
    operator hid_t() const { return id; }
};

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

void check(herr_t rc, const std::string & path, const char * what) {
    if (rc < 0) {
        H5Eclear2(H5E_DEFAULT);
        throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to {}", path, what));
    }
}

[[noreturn]] void corrupt(const std::string & path, const std::string & why) {
    H5Eclear2(H5E_DEFAULT);  // a failed call left on a thread's stack makes HDF5 loop when it closes at exit
    throw Error(ExitCode::bad_input, fmt::format("{}: {}", path, why));
}

// Debian's HDF5 is thread-safe, with error settings and an error stack per thread.
void silence_hdf5() {
    thread_local bool done = false;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // we report errors ourselves
        done = true;
    }
}

hid_t dataset_props() {
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, false);  // no timestamps: the same content gives the same file
    return dcpl;
}

void write_dataset(hid_t file, const std::string & name, hid_t type, const std::vector<hsize_t> & dims,
                   const void * data, const std::string & path) {
    H5Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               H5Sclose);
    H5Id dcpl(dataset_props(), H5Pclose);
    H5Id ds(H5Dcreate2(file, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), H5Dclose);
    if (ds.id < 0) {
        H5Eclear2(H5E_DEFAULT);
        throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to create dataset {}", path, name));
    }
    check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path, "write a dataset");
}

// A fixed-length string lives in the object header, whose messages hold at most 64 KiB; a longer value (the
// graph of a model of a few hundred layers) is a variable-length string, kept in the global heap. Values that
// fit stay fixed-length, so those files are byte for byte what earlier releases wrote and read.
constexpr size_t kMaxFixedStringAttr = 60000;

void write_string_attr(hid_t obj, const std::string & name, const std::string & value,
                       const std::string & path) {
    const bool variable = value.size() > kMaxFixedStringAttr;
    H5Id type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type, variable ? H5T_VARIABLE : std::max<size_t>(1, value.size()));
    if (!variable) H5Tset_strpad(type, H5T_STR_NULLPAD);
    H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
    H5Id attr(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (attr.id < 0) {
        H5Eclear2(H5E_DEFAULT);
        throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to create attribute {}", path, name));
    }
    if (variable) {
        const char * text = value.c_str();
        check(H5Awrite(attr, type, &text), path, "write an attribute");
        return;
    }
    std::string padded = value.empty() ? std::string(1, '\0') : value;
    check(H5Awrite(attr, type, padded.data()), path, "write an attribute");
}

std::string integrity_header(uint64_t bytes, const std::string & sha256_hex_digest) {
    std::string h =
        fmt::format("{}{}\nbytes {}\nsha256 {}\n", kHeaderMagic, kHeaderVersion, bytes, sha256_hex_digest);
    DL_ASSERT(h.size() < kH5HeaderBytes);
    h.resize(kH5HeaderBytes, '\0');
    return h;
}

// Reads exactly `n` bytes at `offset`; false at end of file.
bool read_at(int fd, void * buffer, size_t n, uint64_t offset) {
    auto * out = static_cast<char *>(buffer);
    while (n > 0) {
        const ssize_t got = ::pread(fd, out, n, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        out += got;
        n -= static_cast<size_t>(got);
        offset += static_cast<uint64_t>(got);
    }
    return true;
}

// Per Note [h5 integrity], the header is checked byte for byte (it is rebuilt from the values it states and
// compared whole), then the stated length against the file's, then the sha256 of the rest against the stated
// one.
void verify_integrity_header(int fd, const char * head, uint64_t file_size, const std::string & path) {
    const std::string_view text(head, kH5HeaderBytes);
    auto field = [&](size_t from, std::string_view key) -> std::string_view {
        if (text.substr(from, key.size()) != key)
            corrupt(path, "corrupt integrity header (the file is damaged)");
        const size_t end = text.find('\n', from + key.size());
        if (end == std::string_view::npos || end - from - key.size() > 80)
            corrupt(path, "corrupt integrity header (the file is damaged)");
        return text.substr(from + key.size(), end - from - key.size());
    };
    const std::string_view version = field(0, kHeaderMagic);
    if (version != std::to_string(kHeaderVersion))
        corrupt(path,
                fmt::format("written in checkpoint format {}, which this dlctl ({}) does not read; use a "
                            "newer dlctl, or the file is damaged",
                            std::string(version.substr(0, 8)), kHeaderVersion));
    const size_t bytes_at = kHeaderMagic.size() + version.size() + 1;
    const std::string_view bytes_text = field(bytes_at, "bytes ");
    const std::string_view hex = field(bytes_at + 6 + bytes_text.size() + 1, "sha256 ");
    uint64_t stated = 0;
    const auto [end, ec] = std::from_chars(bytes_text.data(), bytes_text.data() + bytes_text.size(), stated);
    if (ec != std::errc() || end != bytes_text.data() + bytes_text.size() || hex.size() != 64 ||
        hex.find_first_not_of("0123456789abcdef") != std::string_view::npos ||
        integrity_header(stated, std::string(hex)) != text)
        corrupt(path, "corrupt integrity header (the file is damaged)");
    if (stated != file_size)
        corrupt(path, fmt::format("{} bytes, but it was written with {}: the file is {}", file_size, stated,
                                  file_size < stated ? "truncated" : "damaged (bytes were added)"));
    Sha256 h;
    std::vector<char> buffer(size_t{1} << 20);
    for (uint64_t at = kH5HeaderBytes; at < file_size;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), file_size - at));
        if (!read_at(fd, buffer.data(), n, at))
            throw Error(ExitCode::missing_input,
                        fmt::format("{}: cannot be read: {}", path, std::strerror(errno)));
        h.update(buffer.data(), n);
        at += n;
    }
    if (h.hex() != hex) corrupt(path, "checksum mismatch: the file is corrupt");
}

struct ReadCtx {
    H5Content * content;
    std::string path;
    uint64_t file_size = 0;
    std::string problem;  // set by a visitor that refused what it found
};

// Every element count is bounded by the file's length before anything is allocated: our datasets are stored
// contiguously and uncompressed, so a dataset cannot hold more bytes than the file has.
bool bounded_numel(const std::vector<hsize_t> & dims, size_t element_bytes, uint64_t file_size,
                   uint64_t & numel) {
    numel = 1;
    const uint64_t limit = file_size / element_bytes;
    for (hsize_t d : dims) {
        if (d != 0 && numel > limit / d) return false;
        numel *= d;
    }
    return numel <= limit;
}

herr_t visit_object(hid_t root, const char * name, const H5O_info_t * info, void * data) {
    auto * ctx = static_cast<ReadCtx *>(data);
    if (info->type != H5O_TYPE_DATASET) return 0;
    H5Id ds(H5Dopen2(root, name, H5P_DEFAULT), H5Dclose);
    if (ds.id < 0) return -1;
    H5Id type(H5Dget_type(ds), H5Tclose);
    H5Id space(H5Dget_space(ds), H5Sclose);
    if (type.id < 0 || space.id < 0) return -1;
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > kMaxRank) {
        ctx->problem = fmt::format("dataset {} has rank {}", name, rank);
        return -1;
    }
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) return -1;
    const H5T_class_t cls = H5Tget_class(type);
    const size_t size = H5Tget_size(type);
    uint64_t numel = 0;
    if (!bounded_numel(dims, std::max<size_t>(size, 1), ctx->file_size, numel)) {
        ctx->problem = fmt::format("dataset {} claims more elements than the file holds", name);
        return -1;
    }
    if (cls == H5T_FLOAT && size == 4) {
        Shape shape;
        for (hsize_t d : dims) shape.dims.push_back(static_cast<int64_t>(d));
        Tensor t(shape);
        if (numel > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.f32()) < 0) return -1;
        ctx->content->tensors.emplace(name, std::move(t));
    } else if (cls == H5T_FLOAT && rank == 0) {
        double v = 0;
        if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0) return -1;
        ctx->content->reals[name] = v;
    } else if (cls == H5T_INTEGER && rank == 0) {
        int64_t v = 0;
        if (H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0) return -1;
        ctx->content->ints[name] = v;
    }
    return 0;
}

// A string attribute (fixed-length, or variable-length as write_string_attr stores long ones), its size
// bounded by the file's; other types are not ours and are skipped.
herr_t read_string_attr(hid_t attr, const char * name, ReadCtx & ctx) {
    H5Id type(H5Aget_type(attr), H5Tclose);
    if (type.id < 0) return -1;
    if (H5Tget_class(type) != H5T_STRING) return 0;
    H5Id space(H5Aget_space(attr), H5Sclose);
    if (space.id < 0 || H5Sget_simple_extent_type(space) != H5S_SCALAR) {
        ctx.problem = fmt::format("attribute {} is not a single string", name);
        return -1;
    }
    if (H5Tis_variable_str(type) > 0) {
        H5Id memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
        if (memory_type.id < 0 || H5Tset_size(memory_type, H5T_VARIABLE) < 0) return -1;
        char * text = nullptr;
        if (H5Aread(attr, memory_type, &text) < 0) return -1;
        std::unique_ptr<char, herr_t (*)(void *)> owned(text, H5free_memory);
        const size_t size = text ? strnlen(text, ctx.file_size + 1) : 0;
        if (size > ctx.file_size) {
            ctx.problem = fmt::format("attribute {} claims more bytes than the file has", name);
            return -1;
        }
        ctx.content->attrs[name] = std::string(text ? text : "", size);
        return 0;
    }
    const size_t size = H5Tget_size(type);
    if (size == 0 || size > ctx.file_size) {
        ctx.problem = fmt::format("attribute {} claims {} bytes", name, size);
        return -1;
    }
    std::string value(size, '\0');
    if (H5Aread(attr, type, value.data()) < 0) return -1;
    value.resize(strnlen(value.data(), value.size()));
    ctx.content->attrs[name] = value;
    return 0;
}

herr_t visit_attr(hid_t obj, const char * name, const H5A_info_t *, void * data) {
    auto * ctx = static_cast<ReadCtx *>(data);
    H5Id attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
    if (attr.id < 0) return -1;
    return read_string_attr(attr, name, *ctx);
}

// Format 1's checksum: the datasets only.
std::string legacy_content_checksum(const H5Content & c) {
    Sha256 h;
    auto add_name = [&](const std::string & name) { h.update(name.data(), name.size() + 1); };
    for (auto & [name, t] : c.tensors) {
        add_name(name);
        for (int64_t d : t.shape().dims) h.update(&d, sizeof d);
        h.update(t.f32(), t.bytes());
    }
    for (auto & [name, v] : c.ints) {
        add_name(name);
        h.update(&v, sizeof v);
    }
    for (auto & [name, v] : c.reals) {
        add_name(name);
        h.update(&v, sizeof v);
    }
    return h.hex();
}

}  // namespace

std::string content_checksum(const H5Content & c) {
    Sha256 h;
    const std::string legacy = legacy_content_checksum(c);
    h.update("dlctl-content/2");
    h.update(legacy);
    for (auto & [name, v] : c.attrs) {
        if (name == "checksum") continue;
        const uint64_t n = v.size();
        h.update(name.data(), name.size() + 1);
        h.update(&n, sizeof n);
        h.update(v);
    }
    return h.hex();
}

std::string h5_file_image(const std::function<void(int64_t)> & fill, size_t userblock,
                          const std::string & path) {
    silence_hdf5();
    H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    // The core driver without a backing store: the file lives in memory only and HDF5 never touches the disk.
    check(H5Pset_fapl_core(fapl, size_t{1} << 20, /*backing_store=*/false), path, "set up an in-memory file");
    H5Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    if (userblock > 0) check(H5Pset_userblock(fcpl, userblock), path, "reserve the user block");
    // HDF5 wants a name and refuses two open files of the same name: a unique one, never created on disk.
    const std::string name = temp_path_for(path) + ".mem";
    std::string image;
    {
        H5Id file(H5Fcreate(name.c_str(), H5F_ACC_EXCL, fcpl, fapl), H5Fclose);
        if (file.id < 0) {
            H5Eclear2(H5E_DEFAULT);
            throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to create the file in memory", path));
        }
        fill(file.id);
        check(H5Fflush(file, H5F_SCOPE_GLOBAL), path, "flush");
        // The image starts at HDF5's base address: the user block is not part of it, and goes in front.
        const ssize_t bytes = H5Fget_file_image(file, nullptr, 0);
        if (bytes <= 0) check(-1, path, "take the file image");
        image.assign(userblock + static_cast<size_t>(bytes), '\0');
        if (H5Fget_file_image(file, image.data() + userblock, static_cast<size_t>(bytes)) != bytes)
            check(-1, path, "take the file image");
    }
    DL_ASSERT(image.size() > userblock);
    return image;
}

void write_h5(const std::string & path, const H5Content & c) {
    std::string image = h5_file_image(
        [&](hid_t file) {
            for (auto & [name, t] : c.tensors) {
                std::vector<hsize_t> dims;
                for (int64_t d : t.shape().dims) dims.push_back(static_cast<hsize_t>(d));
                write_dataset(file, name, H5T_NATIVE_FLOAT, dims, t.f32(), path);
            }
            for (auto & [name, v] : c.ints) write_dataset(file, name, H5T_NATIVE_INT64, {}, &v, path);
            for (auto & [name, v] : c.reals) write_dataset(file, name, H5T_NATIVE_DOUBLE, {}, &v, path);
            for (auto & [name, v] : c.attrs)
                if (name != "checksum") write_string_attr(file, name, v, path);
            write_string_attr(file, "checksum", content_checksum(c), path);
        },
        kH5HeaderBytes, path);
    const std::string digest = sha256_hex(std::string_view(image).substr(kH5HeaderBytes));
    const std::string header = integrity_header(image.size(), digest);
    std::memcpy(image.data(), header.data(), kH5HeaderBytes);
    write_file_atomic(path, image);
}

H5Content read_h5(const std::string & path) {
    silence_hdf5();
    Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) {
        const int err = errno;
        throw Error(ExitCode::missing_input,
                    err == ENOENT ? fmt::format("{}: no such file", path)
                                  : fmt::format("{}: cannot be read: {}", path, std::strerror(err)));
    }
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode))
        throw Error(ExitCode::missing_input, fmt::format("{}: not a regular file", path));
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);
    char head[kH5HeaderBytes] = {};
    const bool has_head = file_size >= kH5HeaderBytes && read_at(fd.fd, head, kH5HeaderBytes, 0);
    bool verified = false;
    if (has_head && std::string_view(head, kHeaderMagic.size()) == kHeaderMagic) {
        verify_integrity_header(fd.fd, head, file_size, path);
        verified = true;
    } else if (!(file_size >= sizeof kHdf5Signature && read_at(fd.fd, head, sizeof kHdf5Signature, 0) &&
                 std::memcmp(head, kHdf5Signature, sizeof kHdf5Signature) == 0)) {
        corrupt(path, file_size < kH5HeaderBytes ? "truncated: too short to be a checkpoint"
                                                 : "not a dlctl checkpoint (no dlctl-h5 header; corrupt?)");
    }
    // Note [legacy files]: without the header nothing vouches for the bytes, and libhdf5 itself reads past
    // its buffers on some damaged metadata (found by fuzzing under ASan). Such files are read only when the
    // user says they trust them; `dlctl export` then writes the model in the checked format.
    if (!verified) {
        const char * allow = std::getenv("DLCTL_READ_LEGACY_H5");
        if (!allow || std::string_view(allow) != "1")
            corrupt(
                path,
                "no dlctl integrity header: written by a dlctl older than format 2 (or not by dlctl), and "
                "not read unverified; if you trust this file, read it with DLCTL_READ_LEGACY_H5=1");
    }

    // HDF5 opens the very file just verified (the descriptor's), not whatever the name points at by now.
    const std::string by_fd = fmt::format("/proc/self/fd/{}", fd.fd);
    const std::string open_name = ::access(by_fd.c_str(), R_OK) == 0 ? by_fd : path;
    H5Id file(H5Fopen(open_name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (file.id < 0) corrupt(path, "not a readable HDF5 file (corrupt?)");
    H5Content c;
    ReadCtx ctx{&c, path, file_size, {}};
    bool ok = H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_object, &ctx) >= 0;
    if (ok && verified) {
        ok = H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, visit_attr, &ctx) >= 0;
    } else if (ok) {
        for (const char * name : kKnownAttributes) {
            const htri_t exists = H5Aexists(file, name);
            if (exists < 0) {
                ok = false;
                break;
            }
            if (exists == 0) continue;
            H5Id attr(H5Aopen(file, name, H5P_DEFAULT), H5Aclose);
            if (attr.id < 0 || read_string_attr(attr, name, ctx) < 0) {
                ok = false;
                break;
            }
        }
    }
    if (!ok)
        corrupt(path, ctx.problem.empty()
                          ? "the file cannot be read (corrupt?)"
                          : fmt::format("the file cannot be read (corrupt?): {}", ctx.problem));
    auto it = c.attrs.find("checksum");
    if (!verified) {
        // A file that says it is format 2 but lacks the header had it stripped or damaged.
        auto format = c.attrs.find("format");
        if (format != c.attrs.end() && !format->second.ends_with("/1"))
            corrupt(path, "its integrity header is missing: the file is corrupt");
        if (it == c.attrs.end() || it->second != legacy_content_checksum(c))
            corrupt(path, "checksum mismatch: the file is corrupt");
        return c;
    }
    if (it == c.attrs.end() || it->second != content_checksum(c))
        corrupt(path, "checksum mismatch: the file is corrupt");
    return c;
}

}  // namespace dl
