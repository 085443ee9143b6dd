// conv2d_backprop_input on the GPU: per group, the patch-matrix gradient dz W^T (cuBLAS), gathered back onto
// the input pixels (conv2d_backprop_input.cpp).
#include "backend/cuda/conv.cuh"

namespace dl {
namespace {
void conv2d_backprop_input_cuda(const cuda::Args & a) {
    const cuda::Tensor &dz = a.in[0], &w = a.in[1];
    const ConvGeometry g = cuda::conv_geometry_of(a, a.out, w.dims);  // the output is shaped like the input
    float * dx = a.out.f32();
    if (g.pointwise()) {
        cuda::gemm_rm(a, g.rows(), g.c, g.f, dz.f32(), g.f, false, w.f32(), g.f, true, dx, g.c);
        return;
    }
    auto * dcol =
        static_cast<float *>(cuda::scratch(a, static_cast<size_t>(g.rows() * g.patch()) * sizeof(float)));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
        cuda::gemm_rm(a, g.rows(), g.patch(), g.fg(), dz.f32() + grp * g.fg(), g.f, false,
                      w.f32() + grp * g.fg(), g.f, true, dcol, g.patch());
        cuda::col2im(a, g, dcol, grp, dx);
    }
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("conv2d_backprop_input", conv2d_backprop_input_cuda);
}  // namespace dl
