// conv2d on the GPU: cuDNN or, per group, the patch matrix (im2col) times the group's filters with cuBLAS,
// whichever was faster for the shape (Note [conv algorithms]); then the bias and relu of a fused convolution
// (conv2d.cpp). A 1x1 convolution is one GEMM on the image itself.
#include "backend/cuda/conv.cuh"
#include "backend/cuda/cudnn_conv.h"

namespace dl {
namespace {
void forward_im2col(const cuda::Args & a, const ConvGeometry & g, const float * x, const float * w,
                    float * y) {
    auto * col =
        static_cast<float *>(cuda::scratch(a, static_cast<size_t>(g.rows() * g.patch()) * sizeof(float)));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
        cuda::im2col(a, g, x, grp, col);
        cuda::gemm_rm(a, g.rows(), g.fg(), g.patch(), col, g.patch(), false, w + grp * g.fg(), g.f, false,
                      y + grp * g.fg(), g.f);
    }
}
void conv2d_cuda(const cuda::Args & a) {
    const cuda::Tensor &x = a.in[0], &w = a.in[1];
    const ConvGeometry g = cuda::conv_geometry_of(a, x, w.dims);
    float * y = a.out.f32();
    if (g.pointwise())
        cuda::gemm_rm(a, g.rows(), g.f, g.c, x.f32(), g.c, false, w.f32(), g.f, false, y, g.f);
    else if (!cuda::cudnn_conv(a, cuda::ConvPass::forward, g, x.f32(), w.f32(), y, forward_im2col))
        forward_im2col(a, g, x.f32(), w.f32(), y);
    const float * bias = a.num_inputs == 3 ? a.in[2].f32() : nullptr;
    const int act = cuda::attr_is(a, "activation", "relu", "linear") ? cuda::kRelu : cuda::kLinear;
    cuda::bias_activation(a, y, bias, a.out.numel, g.f, act);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("conv2d", conv2d_cuda);
}  // namespace dl
