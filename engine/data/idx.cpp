// The IDX format of MNIST and Fashion-MNIST: magic 0x00 0x00 TYPE RANK, RANK big-endian uint32 extents, then the
// values row-major. gzip is read through zlib (gzread passes plain files through unchanged).
#include <zlib.h>

#include <cstring>

#include "core/error.h"
#include "core/hash.h"
#include "data/dataset.h"

namespace dl {

namespace {

struct IdxArray {
    std::vector<int64_t> dims;
    std::vector<float> values;
};

std::string read_maybe_gzip(const DataFile & f) {
    gzFile in = gzopen(f.path.c_str(), "rb");
    if (!in) throw Error(ExitCode::missing_input, fmt::format("{}: cannot be read", f.as_written));
    std::string data;
    char buf[1 << 16];
    for (;;) {
        const int n = gzread(in, buf, sizeof buf);
        if (n < 0) {
            int errnum = 0;
            const std::string why = gzerror(in, &errnum);
            gzclose(in);
            throw Error(ExitCode::bad_input, fmt::format("{}: not a readable gzip/IDX file ({})", f.as_written, why));
        }
        if (n == 0) break;
        data.append(buf, static_cast<size_t>(n));
    }
    gzclose(in);
    return data;
}

IdxArray read_idx_file(const DataFile & f, Sha256 & digest) {
    const std::string bytes = read_maybe_gzip(f);
    digest.update(bytes);
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
    if (rank < 1 || bytes.size() < 4 + 4 * static_cast<size_t>(rank))
        throw Error(ExitCode::bad_input, fmt::format("{}: truncated IDX header", f.as_written));
    IdxArray a;
    size_t count = 1;
    for (size_t d = 0; d < rank; ++d) {
        const size_t at = 4 + 4 * d;
        const int64_t extent = (int64_t{u8(at)} << 24) | (int64_t{u8(at + 1)} << 16) | (int64_t{u8(at + 2)} << 8) | u8(at + 3);
        a.dims.push_back(extent);
        count *= static_cast<size_t>(extent);
    }
    const size_t header = 4 + 4 * static_cast<size_t>(rank);
    if (bytes.size() != header + count * width)
        throw Error(ExitCode::bad_input, fmt::format("{}: the header promises {} values, the file holds {} bytes of data",
                                                     f.as_written, count, bytes.size() - header));
    a.values.resize(count);
    if (width == 1) {
        for (size_t i = 0; i < count; ++i) a.values[i] = static_cast<float>(u8(header + i));
    } else {
        for (size_t i = 0; i < count; ++i) {
            const size_t at = header + 4 * i;
            const uint32_t bits = (uint32_t{u8(at)} << 24) | (uint32_t{u8(at + 1)} << 16) | (uint32_t{u8(at + 2)} << 8) | u8(at + 3);
            std::memcpy(&a.values[i], &bits, 4);
        }
    }
    return a;
}

void append_pair(Table & t, const DataFile & images, const DataFile & labels, Sha256 & digest) {
    const IdxArray x = read_idx_file(images, digest), y = read_idx_file(labels, digest);
    if (y.dims.size() != 1)
        throw Error(ExitCode::bad_input, fmt::format("{}: labels must be one value per image, got {} dimensions",
                                                     labels.as_written, y.dims.size()));
    if (x.dims[0] != y.dims[0])
        throw Error(ExitCode::bad_input, fmt::format("{} has {} images but {} has {} labels", images.as_written,
                                                     x.dims[0], labels.as_written, y.dims[0]));
    const std::vector<int64_t> shape(x.dims.begin() + 1, x.dims.end());
    if (t.sample_shape.empty()) t.sample_shape = shape;
    if (shape != t.sample_shape)
        throw Error(ExitCode::bad_input, fmt::format("{}: images are {}, the training images are {}", images.as_written,
                                                     to_string(Shape(shape)), to_string(Shape(t.sample_shape))));
    t.features.insert(t.features.end(), x.values.begin(), x.values.end());
    for (float v : y.values) t.labels.push_back(static_cast<int32_t>(v));
}

}  // namespace

Table read_idx(const DataSpec & data) {
    Table t;
    t.classification = true;
    t.target_names = {"label"};
    Sha256 digest;  // over the decompressed files, in order
    append_pair(t, data.images, data.labels, digest);
    if (data.test_images.given()) {
        t.test_start = static_cast<int64_t>(t.labels.size());
        append_pair(t, data.test_images, data.test_labels, digest);
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
    if (data.rescale != 1.0) {
        const float r = static_cast<float>(data.rescale);
        for (float & v : t.features) v *= r;
    }
    return t;
}

}  // namespace dl
