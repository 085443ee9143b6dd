// concat on the GPU: each input's rows copied into its block of the output's rows, one 2-D copy per input
// (concat.cpp).
#include "backend/cuda/kernel.h"

namespace dl {
namespace {
void concat_cuda(const cuda::Args & a) {
    const cuda::Tensor & y = a.out;
    int axis = static_cast<int>(cuda::attr_int(a, "axis", -1));
    if (axis < 0) axis += y.rank;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= y.dims[d];
    for (int d = axis + 1; d < y.rank; ++d) inner *= y.dims[d];
    const size_t width = y.type == cuda::ElemType::i64 ? 8 : 4;
    const size_t out_row = static_cast<size_t>(y.dims[axis] * inner) * width;
    size_t at = 0;
    for (int i = 0; i < a.num_inputs; ++i) {
        const size_t row = static_cast<size_t>(a.in[i].dims[axis] * inner) * width;
        if (row > 0 && outer > 0)
            cudaMemcpy2DAsync(static_cast<char *>(y.data) + at, out_row, a.in[i].data, row, row,
                              static_cast<size_t>(outer), cudaMemcpyDeviceToDevice, a.stream);
        at += row;
    }
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("concat", concat_cuda);
}  // namespace dl
