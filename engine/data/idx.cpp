// The IDX format of MNIST and Fashion-MNIST: magic 0x00 0x00 TYPE RANK, RANK big-endian uint32 extents, then the
// values row-major. gzip is read through zlib (gzread passes plain files through unchanged).
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <future>

#include "core/error.h"
#include "core/hash.h"
#include "data/dataset.h"

namespace dl {

namespace {

// Maps a large buffer's pages in one call before its first touch: filling 200 MB page fault by page fault cost
// half of the load time in the kernel. (Huge pages would be cheaper still, but with the kernel's default
// "defrag" setting a fragmented machine stalls in compaction for longer than they save.)
void prefault(void * data, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
    const uintptr_t page = 4096, begin = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(page - 1);
    if (end > begin) madvise(reinterpret_cast<void *>(begin), end - begin, MADV_POPULATE_WRITE);  // a hint: errors ignored
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

// gzip's trailer holds the uncompressed size (mod 2^32): reserving it saves the copies of a growing buffer.
size_t expected_size(const std::string & path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : 0;
    if (size < 18) return static_cast<size_t>(std::max<std::streamoff>(size, 0));
    unsigned char magic[2] = {}, trailer[4] = {};
    in.seekg(0);
    in.read(reinterpret_cast<char *>(magic), 2);
    if (magic[0] != 0x1f || magic[1] != 0x8b) return static_cast<size_t>(size);
    in.seekg(size - 4);
    in.read(reinterpret_cast<char *>(trailer), 4);
    return size_t{trailer[0]} | size_t{trailer[1]} << 8 | size_t{trailer[2]} << 16 | size_t{trailer[3]} << 24;
}

std::string read_maybe_gzip(const DataFile & f) {
    gzFile in = gzopen(f.path.c_str(), "rb");
    if (!in) throw Error(ExitCode::missing_input, fmt::format("{}: cannot be read", f.as_written));
    gzbuffer(in, 1 << 17);
    std::string data;
    data.reserve(expected_size(f.path) + 1);
    prefault(data.data(), data.capacity());
    for (;;) {
        const size_t at = data.size();
        const size_t room = std::max<size_t>(data.capacity() - at, 1 << 16);
        data.resize(at + room);
        const int n = gzread(in, data.data() + at, static_cast<unsigned>(std::min<size_t>(room, 1u << 30)));
        if (n < 0) {
            int errnum = 0;
            const std::string why = gzerror(in, &errnum);
            gzclose(in);
            throw Error(ExitCode::bad_input, fmt::format("{}: not a readable gzip/IDX file ({})", f.as_written, why));
        }
        data.resize(at + static_cast<size_t>(n));
        if (n == 0) break;
    }
    gzclose(in);
    return data;
}

IdxFile read_idx_file(const DataFile & f) {
    IdxFile a;
    a.bytes = read_maybe_gzip(f);
    const std::string & bytes = a.bytes;
    auto u8 = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
    if (bytes.size() < 4 || u8(0) != 0 || u8(1) != 0)
        throw Error(ExitCode::bad_input, fmt::format("{}: not an IDX file (bad magic number)", f.as_written));
    const uint8_t type = u8(2), rank = u8(3);
    size_t width = 0;
    if (type == 0x08) width = 1;        // unsigned byte
    else if (type == 0x0D) width = 4;   // float32
    else
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: IDX value type 0x{:02x} is not supported (unsigned bytes 0x08 or float32 0x0d)",
                                f.as_written, type));
    a.floats = width == 4;
    if (rank < 1 || bytes.size() < 4 + 4 * static_cast<size_t>(rank))
        throw Error(ExitCode::bad_input, fmt::format("{}: truncated IDX header", f.as_written));
    a.count = 1;
    for (size_t d = 0; d < rank; ++d) {
        const size_t at = 4 + 4 * d;
        const int64_t extent = (int64_t{u8(at)} << 24) | (int64_t{u8(at + 1)} << 16) | (int64_t{u8(at + 2)} << 8) | u8(at + 3);
        a.dims.push_back(extent);
        a.count *= static_cast<size_t>(extent);
    }
    a.header = 4 + 4 * static_cast<size_t>(rank);
    if (bytes.size() != a.header + a.count * width)
        throw Error(ExitCode::bad_input, fmt::format("{}: the header promises {} values, the file holds {} bytes of data",
                                                     f.as_written, a.count, bytes.size() - a.header));
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
        const uint32_t bits = (uint32_t{at[0]} << 24) | (uint32_t{at[1]} << 16) | (uint32_t{at[2]} << 8) | at[3];
        std::memcpy(dst + i, &bits, 4);
        dst[i] *= scale;
    }
}

struct IdxPair {
    IdxFile images, labels;
};

IdxPair read_pair(const DataFile & images, const DataFile & labels) {
    IdxPair p{read_idx_file(images), read_idx_file(labels)};
    if (p.labels.dims.size() != 1)
        throw Error(ExitCode::bad_input, fmt::format("{}: labels must be one value per image, got {} dimensions",
                                                     labels.as_written, p.labels.dims.size()));
    if (p.images.dims[0] != p.labels.dims[0])
        throw Error(ExitCode::bad_input, fmt::format("{} has {} images but {} has {} labels", images.as_written,
                                                     p.images.dims[0], labels.as_written, p.labels.dims[0]));
    return p;
}

void append_pair(Table & t, const IdxPair & p, const DataFile & images, float scale, Sha256 & digest) {
    digest.update(p.images.bytes);
    digest.update(p.labels.bytes);
    const std::vector<int64_t> shape(p.images.dims.begin() + 1, p.images.dims.end());
    if (t.sample_shape.empty()) t.sample_shape = shape;
    if (shape != t.sample_shape)
        throw Error(ExitCode::bad_input, fmt::format("{}: images are {}, the training images are {}", images.as_written,
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
        DL_CHECK(class_labels, ExitCode::bad_input,
                 "IDX data holds class labels: use sparse_categorical_crossentropy or categorical_crossentropy");
        t = read_idx(data);
        if (!known_classes.empty() && known_classes.size() > t.class_names.size()) t.class_names = known_classes;
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
