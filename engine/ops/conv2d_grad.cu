// conv2d_grad on the GPU: cuDNN, or per group the patch-matrix gradient dz W^T (cuBLAS) gathered
// back onto the input pixels, whichever was faster for the shape (conv2d_grad.cpp).
#include "backend/cuda/conv.cuh"
#include "backend/cuda/cudnn_conv.h"

namespace dl {
namespace {
void backward_data_im2col(const cuda::Args & a, const ConvGeometry & g, const float * dz, const float * w,
                          float * dx) {
    auto * dcol =
        static_cast<float *>(cuda::scratch(a, static_cast<size_t>(g.rows() * g.patch()) * sizeof(float)));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
        cuda::gemm_rm(a, g.rows(), g.patch(), g.fg(), dz + grp * g.fg(), g.f, false, w + grp * g.fg(), g.f,
                      true, dcol, g.patch());
        cuda::col2im(a, g, dcol, grp, dx);
    }
}
void conv2d_grad_cuda(const cuda::Args & a) {
    const cuda::Tensor &dz = a.in[0], &w = a.in[1];
    const ConvGeometry g = cuda::conv_geometry_of(a, a.out, w.dims);  // the output is shaped like the input
    float * dx = a.out.f32();
    if (g.pointwise())
        cuda::gemm_rm(a, g.rows(), g.c, g.f, dz.f32(), g.f, false, w.f32(), g.f, true, dx, g.c);
    else if (!cuda::cudnn_conv(a, cuda::ConvPass::backward_data, g, dz.f32(), w.f32(), dx,
                               backward_data_im2col))
        backward_data_im2col(a, g, dz.f32(), w.f32(), dx);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("conv2d_grad", conv2d_grad_cuda);
}  // namespace dl
