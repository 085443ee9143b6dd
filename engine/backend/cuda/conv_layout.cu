// Filter layout changes for cuDNN (cudnn_conv.h): dlctl's [kh, kw, cg, f] and cuDNN's NHWC filter [f, kh, kw,
// cg].
#include "backend/cuda/cudnn_conv.h"

namespace dl::cuda {

namespace {
__global__ void filter_transpose_kernel(const float * __restrict__ from, float * __restrict__ to,
                                        int64_t spatial_cg, int64_t f, bool to_krsc) {
    const int64_t n = spatial_cg * f;
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        // i indexes RSCK as [spatial_cg, f]; KRSC is [f, spatial_cg].
        const int64_t s = i / f, k = i % f;
        if (to_krsc)
            to[k * spatial_cg + s] = from[i];
        else
            to[i] = from[k * spatial_cg + s];
    }
}
}  // namespace

void rsck_to_krsc(const Args & a, const ConvGeometry & g, const float * rsck, float * krsc) {
    filter_transpose_kernel<<<blocks_for(g.patch() * g.f), 256, 0, a.stream>>>(rsck, krsc, g.patch(), g.f,
                                                                               true);
}

void krsc_to_rsck(const Args & a, const ConvGeometry & g, const float * krsc, float * rsck) {
    filter_transpose_kernel<<<blocks_for(g.patch() * g.f), 256, 0, a.stream>>>(krsc, rsck, g.patch(), g.f,
                                                                               false);
}

}  // namespace dl::cuda
