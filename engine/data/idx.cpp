// The IDX format of MNIST and Fashion-MNIST: magic 0x00 0x00 TYPE RANK, RANK big-endian uint32 extents, then
// the values row-major. gzip is read through zlib (gzread passes plain files through unchanged).
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <future>

#include "core/error.h"
#include "core/hash.h"
#include "data/dataset.h"

namespace dl {

namespace {

// Maps a large buffer's pages in one call before its first touch: filling 200 MB page fault by page fault
// cost half of the load time in the kernel. (Huge pages would be cheaper still, but with the kernel's default
// "defrag" setting a fragmented machine stalls in compaction for longer than they save.)
void prefault(void * data, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
    const uintptr_t page = 4096, begin = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(page - 1);
    if (end > begin)
        madvise(reinterpret_cast<void *>(begin), end - begin, MADV_POPULATE_WRITE);  // a hint: errors ignored
#else
    (void)data, (void)bytes;
#endif
}

// One file as read: its decompressed bytes, checked; values are decoded later straight into the table.
struct IdxFile {
    std::vector<int64_t> dims;
    std::string bytes;
    size_t header = 0, count = 0;
    bool floats = false;  // float32 values, else unsigned bytes
};

// The most values a file can hold: plain, its length; gzip, its length times deflate's largest ratio
// (1032:1). The header's promise is checked against it before anything of that size is allocated.
constexpr uint64_t kDeflateMaxRatio = 1032;

uint64_t file_length(const std::string & path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    return ec ? 0 : static_cast<uint64_t>(size);
}

class GzReader {
public:
    explicit GzReader(const DataFile & f) : f_(f), in_(gzopen(f.path.c_str(), "rb")) {
        if (!in_) throw Error(ExitCode::missing_input, fmt::format("{}: cannot be read", f.as_written));
        gzbuffer(in_, 1 << 17);
    }
    ~GzReader() { gzclose(in_); }
    GzReader(const GzReader &) = delete;
    GzReader & operator=(const GzReader &) = delete;
    bool compressed() const { return gzdirect(in_) == 0; }

    // Reads up to `n` bytes into `out`; returns how many came (fewer only at the end of the data).
    size_t read(char * out, size_t n) {
        size_t got = 0;
        while (got < n) {
            const int r = gzread(in_, out + got, static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30)));
            if (r < 0) {
                int errnum = 0;
                const std::string why = gzerror(in_, &errnum);
                throw Error(ExitCode::bad_input,
                            fmt::format("{}: not a readable gzip/IDX file ({})", f_.as_written, why));
            }
            if (r == 0) break;
            got += static_cast<size_t>(r);
        }
        return got;
    }

private:
    const DataFile & f_;
    gzFile in_;
};

IdxFile read_idx_file(const DataFile & f) {
    IdxFile a;
    GzReader in(f);
    unsigned char head[4] = {};
    const auto bad = [&](size_t offset, const std::string & what) {
        throw Error(ExitCode::bad_input, fmt::format("{}: offset {}: {}", f.as_written, offset, what));
    };
    if (in.read(reinterpret_cast<char *>(head), 4) < 4 || head[0] != 0 || head[1] != 0)
        throw Error(ExitCode::bad_input, fmt::format("{}: not an IDX file (bad magic number)", f.as_written));
    const uint8_t type = head[2], rank = head[3];
    size_t width = 0;
    if (type == 0x08)
        width = 1;  // unsigned byte
    else if (type == 0x0D)
        width = 4;  // float32
    else
        throw Error(
            ExitCode::bad_input,
            fmt::format("{}: IDX value type 0x{:02x} is not supported (unsigned bytes 0x08 or float32 0x0d)",
                        f.as_written, type));
    a.floats = width == 4;
    a.header = 4 + 4 * static_cast<size_t>(rank);
    std::string extents(4 * static_cast<size_t>(rank), '\0');
    if (rank < 1 || in.read(extents.data(), extents.size()) < extents.size())
        throw Error(ExitCode::bad_input, fmt::format("{}: truncated IDX header", f.as_written));
    // The values the header promises, multiplied with an overflow check: 255 extents of 2^32 wrap around.
    uint64_t count = 1;
    bool overflow = false;
    for (size_t d = 0; d < rank; ++d) {
        const auto * at = reinterpret_cast<const unsigned char *>(extents.data()) + 4 * d;
        const int64_t extent =
            (int64_t{at[0]} << 24) | (int64_t{at[1]} << 16) | (int64_t{at[2]} << 8) | at[3];
        a.dims.push_back(extent);
        overflow = overflow || __builtin_mul_overflow(count, static_cast<uint64_t>(extent), &count);
    }
    const uint64_t length = file_length(f.path);
    const uint64_t room =
        in.compressed() ? length * kDeflateMaxRatio : length - std::min<uint64_t>(length, a.header);
    uint64_t bytes = 0;
    if (overflow || __builtin_mul_overflow(count, static_cast<uint64_t>(width), &bytes) || bytes > room) {
        bad(4,
            fmt::format("the header promises {} values ({}), {}",
                        overflow ? std::string("over 2^64") : std::to_string(count), to_string(Shape(a.dims)),
                        in.compressed() ? fmt::format("more than a gzip file of {} bytes can hold", length)
                                        : fmt::format("the file holds {} bytes of data", room)));
    }
    a.count = static_cast<size_t>(count);
    a.bytes.resize(a.header + static_cast<size_t>(bytes));
    std::memcpy(a.bytes.data(), head, 4);
    std::memcpy(a.bytes.data() + 4, extents.data(), extents.size());
    const size_t got = in.read(a.bytes.data() + a.header, static_cast<size_t>(bytes));
    char extra = 0;
    if (got < bytes || in.read(&extra, 1) != 0)
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: the header promises {} values, the file holds {} bytes of data",
                                f.as_written, a.count, got < bytes ? std::to_string(got) : "more"));
    return a;
}

// Appends the file's values, times `scale`, to `out` (one pass: no intermediate float copy of the images).
void decode(const IdxFile & a, float scale, std::vector<float> & out) {
    const size_t base = out.size();
    out.resize(base + a.count);
    float * dst = out.data() + base;
    const auto * src = reinterpret_cast<const unsigned char *>(a.bytes.data() + a.header);
    if (!a.floats) {
        for (size_t i = 0; i < a.count; ++i) dst[i] = static_cast<float>(src[i]) * scale;
        return;
    }
    for (size_t i = 0; i < a.count; ++i) {
        const unsigned char * at = src + 4 * i;
        const uint32_t bits =
            (uint32_t{at[0]} << 24) | (uint32_t{at[1]} << 16) | (uint32_t{at[2]} << 8) | at[3];
        std::memcpy(dst + i, &bits, 4);
        dst[i] *= scale;
    }
}

struct IdxPair {
    IdxFile images, labels;
};

IdxPair read_pair(const DataFile & images, const DataFile & labels) {
    IdxPair p{read_idx_file(images), read_idx_file(labels)};
    if (p.images.dims.size() < 2 || p.images.dims[0] == 0)
        throw Error(ExitCode::bad_input, fmt::format("{}: expected images [count, height, ...], got {}",
                                                     images.as_written, to_string(Shape(p.images.dims))));
    if (p.labels.dims.size() != 1)
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: labels must be one value per image, got {} dimensions",
                                labels.as_written, p.labels.dims.size()));
    if (p.labels.floats)  // class labels: a float would be cast to an index, NaN and 1e30 included
        throw Error(
            ExitCode::bad_input,
            fmt::format("{}: labels must be unsigned bytes (IDX type 0x08), got float32", labels.as_written));
    if (p.images.dims[0] != p.labels.dims[0])
        throw Error(ExitCode::bad_input,
                    fmt::format("{} has {} images but {} has {} labels", images.as_written, p.images.dims[0],
                                labels.as_written, p.labels.dims[0]));
    return p;
}

void append_pair(Table & t, const IdxPair & p, const DataFile & images, float scale, Sha256 & digest) {
    digest.update(p.images.bytes);
    digest.update(p.labels.bytes);
    const std::vector<int64_t> shape(p.images.dims.begin() + 1, p.images.dims.end());
    if (t.sample_shape.empty()) t.sample_shape = shape;
    if (shape != t.sample_shape)
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: images are {}, the training images are {}", images.as_written,
                                to_string(Shape(shape)), to_string(Shape(t.sample_shape))));
    decode(p.images, scale, t.features);
    std::vector<float> labels;
    decode(p.labels, 1.0f, labels);
    for (float v : labels) t.labels.push_back(static_cast<int32_t>(v));
}

}  // namespace

Table read_idx(const DataSpec & data) {
    Table t;
    t.classification = true;
    t.target_names = {"label"};
    // The test files are decompressed on a second thread meanwhile: gzip is most of the load time.
    std::future<IdxPair> test;
    if (data.test_images.given())
        test = std::async(std::launch::async, [&] { return read_pair(data.test_images, data.test_labels); });
    const float scale = static_cast<float>(data.rescale);
    Sha256 digest;  // over the decompressed files, in order
    IdxPair train = read_pair(data.images, data.labels);
    const IdxPair tested = test.valid() ? test.get() : IdxPair{};
    t.features.reserve(train.images.count + tested.images.count);
    prefault(t.features.data(), t.features.capacity() * sizeof(float));
    t.labels.reserve(train.labels.count + tested.labels.count);
    append_pair(t, train, data.images, scale, digest);
    train = IdxPair{};  // the decompressed bytes are no longer needed: keep the peak memory down
    if (data.test_images.given()) {
        t.test_start = static_cast<int64_t>(t.labels.size());
        append_pair(t, tested, data.test_images, scale, digest);
    }

    int32_t max_label = -1;
    for (int32_t l : t.labels) max_label = std::max(max_label, l);
    for (int32_t i = 0; i <= max_label; ++i) t.class_names.push_back(std::to_string(i));
    t.sha256 = digest.hex();
    return t;
}

Table read_dataset(const DataSpec & data, bool class_labels, const std::vector<std::string> & known_classes) {
    Table t;
    if (data.format == "idx") {
        DL_CHECK(
            class_labels, ExitCode::bad_input,
            "IDX data holds class labels: use sparse_categorical_crossentropy or categorical_crossentropy");
        t = read_idx(data);
        if (!known_classes.empty() && known_classes.size() > t.class_names.size())
            t.class_names = known_classes;
    } else {
        t = read_csv(data, class_labels, known_classes);
    }
    if (data.rescale != 1.0 && data.format != "idx") {  // IDX values are scaled as they are decoded
        const float r = static_cast<float>(data.rescale);
        for (float & v : t.features) v *= r;
    }
    return t;
}

}  // namespace dl
