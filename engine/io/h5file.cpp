#include "io/h5file.h"

#include <hdf5.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"

namespace dl {

namespace {

// Owns an HDF5 identifier and closes it with the matching function.
struct H5Id {
    hid_t id = -1;
    herr_t (*close)(hid_t) = nullptr;
    H5Id(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
    ~H5Id() {
        if (id >= 0 && close) close(id);
    }
    H5Id(const H5Id &) = delete;
    operator hid_t() const { return id; }
};

void check(herr_t rc, const std::string & path, const char * what) {
    if (rc < 0) throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to {}", path, what));
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
    H5Id space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               H5Sclose);
    H5Id dcpl(dataset_props(), H5Pclose);
    H5Id ds(H5Dcreate2(file, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), H5Dclose);
    if (ds.id < 0) throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to create dataset {}", path, name));
    check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path, "write a dataset");
}

void write_string_attr(hid_t obj, const std::string & name, const std::string & value, const std::string & path) {
    H5Id type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type, std::max<size_t>(1, value.size()));
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
    H5Id attr(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (attr.id < 0) throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to create attribute {}", path, name));
    std::string padded = value.empty() ? std::string(1, '\0') : value;
    check(H5Awrite(attr, type, padded.data()), path, "write an attribute");
}

struct ReadCtx {
    H5Content * content;
    std::string path;
};

herr_t visit_object(hid_t root, const char * name, const H5O_info_t * info, void * data) {
    auto * ctx = static_cast<ReadCtx *>(data);
    if (info->type != H5O_TYPE_DATASET) return 0;
    H5Id ds(H5Dopen2(root, name, H5P_DEFAULT), H5Dclose);
    H5Id type(H5Dget_type(ds), H5Tclose);
    H5Id space(H5Dget_space(ds), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    const H5T_class_t cls = H5Tget_class(type);
    const size_t size = H5Tget_size(type);
    if (cls == H5T_FLOAT && size == 4) {
        Shape shape;
        for (hsize_t d : dims) shape.dims.push_back(static_cast<int64_t>(d));
        Tensor t(shape);
        if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.f32()) < 0) return -1;
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

herr_t visit_attr(hid_t obj, const char * name, const H5A_info_t *, void * data) {
    auto * ctx = static_cast<ReadCtx *>(data);
    H5Id attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
    H5Id type(H5Aget_type(attr), H5Tclose);
    if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0) return 0;
    std::string value(H5Tget_size(type), '\0');
    if (H5Aread(attr, type, value.data()) < 0) return -1;
    value.resize(strnlen(value.data(), value.size()));
    ctx->content->attrs[name] = value;
    return 0;
}

}  // namespace

std::string content_checksum(const H5Content & c) {
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

void write_h5(const std::string & path, const H5Content & c) {
    silence_hdf5();
    const std::string tmp = temp_path_for(path);
    {
        H5Id file(H5Fcreate(tmp.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
        if (file.id < 0) throw Error(ExitCode::io, fmt::format("{}: cannot create checkpoint file", path));
        try {
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
            check(H5Fflush(file, H5F_SCOPE_GLOBAL), path, "flush");
        } catch (...) {
            std::remove(tmp.c_str());
            throw;
        }
    }
    commit_temp_file(tmp, path);
}

H5Content read_h5(const std::string & path) {
    silence_hdf5();
    if (!file_exists(path)) throw Error(ExitCode::missing_input, fmt::format("{}: no such checkpoint", path));
    H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (file.id < 0) {
        H5Eclear2(H5E_DEFAULT);  // a failed call left on a thread's stack makes HDF5 loop when it closes at exit
        throw Error(ExitCode::bad_input, fmt::format("{}: not a readable HDF5 checkpoint", path));
    }
    H5Content c;
    ReadCtx ctx{&c, path};
    if (H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_object, &ctx) < 0 ||
        H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, visit_attr, &ctx) < 0) {
        H5Eclear2(H5E_DEFAULT);
        throw Error(ExitCode::bad_input, fmt::format("{}: the checkpoint cannot be read (corrupt?)", path));
    }
    auto it = c.attrs.find("checksum");
    if (it == c.attrs.end() || it->second != content_checksum(c))
        throw Error(ExitCode::bad_input, fmt::format("{}: checksum mismatch: the checkpoint is corrupt", path));
    return c;
}

}  // namespace dl
