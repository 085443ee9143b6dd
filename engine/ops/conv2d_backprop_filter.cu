// conv2d_backprop_filter on the GPU: per group, patches^T dz with cuBLAS (conv2d_backprop_filter.cpp).
#include "backend/cuda/conv.cuh"

namespace dl {
namespace {
void conv2d_backprop_filter_cuda(const cuda::Args & a) {
    const cuda::Tensor &x = a.in[0], &dz = a.in[1];
    const ConvGeometry g = cuda::conv_geometry_of(a, x, a.out.dims);  // the output is shaped like the filter
    float * dw = a.out.f32();
    if (g.pointwise()) {
        cuda::gemm_rm(a, g.c, g.f, g.rows(), x.f32(), g.c, true, dz.f32(), g.f, false, dw, g.f);
        return;
    }
    auto * col =
        static_cast<float *>(cuda::scratch(a, static_cast<size_t>(g.rows() * g.patch()) * sizeof(float)));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
        cuda::im2col(a, g, x.f32(), grp, col);
        cuda::gemm_rm(a, g.patch(), g.fg(), g.rows(), col, g.patch(), true, dz.f32() + grp * g.fg(), g.f,
                      false, dw + grp * g.fg(), g.f);
    }
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("conv2d_backprop_filter", conv2d_backprop_filter_cuda);
}  // namespace dl
