// conv2d_grad_filter on the GPU: cuDNN, or per group patches^T dz with cuBLAS, whichever was faster for
// the shape (conv2d_grad_filter.cpp).
#include "backend/cuda/conv.cuh"
#include "backend/cuda/cudnn_conv.h"

namespace dl {
namespace {
void backward_filter_im2col(const cuda::Args & a, const ConvGeometry & g, const float * x, const float * dz,
                            float * dw) {
    auto * col =
        static_cast<float *>(cuda::scratch(a, static_cast<size_t>(g.rows() * g.patch()) * sizeof(float)));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
        cuda::im2col(a, g, x, grp, col);
        cuda::gemm_rm(a, g.patch(), g.fg(), g.rows(), col, g.patch(), true, dz + grp * g.fg(), g.f, false,
                      dw + grp * g.fg(), g.f);
    }
}
void conv2d_grad_filter_cuda(const cuda::Args & a) {
    const cuda::Tensor &x = a.in[0], &dz = a.in[1];
    const ConvGeometry g = cuda::conv_geometry_of(a, x, a.out.dims);  // the output is shaped like the filter
    float * dw = a.out.f32();
    if (g.pointwise())
        cuda::gemm_rm(a, g.c, g.f, g.rows(), x.f32(), g.c, true, dz.f32(), g.f, false, dw, g.f);
    else if (!cuda::cudnn_conv(a, cuda::ConvPass::backward_filter, g, x.f32(), dz.f32(), dw,
                               backward_filter_im2col))
        backward_filter_im2col(a, g, x.f32(), dz.f32(), dw);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("conv2d_grad_filter", conv2d_grad_filter_cuda);
}  // namespace dl
