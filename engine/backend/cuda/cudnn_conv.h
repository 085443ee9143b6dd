// Convolutions through cuDNN, where it is faster than im2col + cuBLAS (Note [conv algorithms]). cuDNN is
// opened with dlopen (libcudnn.so.9) on first use: the plugin links no cuDNN, loads where it is missing (then
// every convolution takes the im2col path), and gets it from wherever the machine has it (PyTorch's `nvidia`
// wheel on the GPU machine).
//   if (!cudnn_conv(a, ConvPass::forward, g, x, w, y, forward_im2col)) forward_im2col(a, g, x, w, y);
#pragma once

#include "backend/cuda/kernel.h"
#include "ops/conv_geometry.h"

namespace dl::cuda {

enum class ConvPass { forward, backward_data, backward_filter };

// Note [conv algorithms]: the first time a (pass, geometry, precision) is seen, on a step's eager run, both
// ways are timed with CUDA events and the faster is kept for good; while a step is being recorded, or when
// cuDNN is missing or cannot express the convolution (TensorFlow's uneven "same" padding), the answer is
// im2col. Returns true when `out` holds the result (for the pass: y, dx or dw, in dlctl's layouts), false
// when the caller must compute it with `im2col`, which is the same convolution the other way (called here to
// time it).
bool cudnn_conv(const Args & a, ConvPass pass, const ConvGeometry & g, const float * in0, const float * in1,
                float * out,
                void (*im2col)(const Args &, const ConvGeometry &, const float *, const float *, float *));

// Filter layout changes between dlctl's [kh, kw, c/groups, f] (RSCK) and cuDNN's NHWC filters [f, kh, kw,
// c/groups] (KRSC); in conv_layout.cu.
void rsck_to_krsc(const Args & a, const ConvGeometry & g, const float * rsck, float * krsc);
void krsc_to_rsck(const Args & a, const ConvGeometry & g, const float * krsc, float * rsck);

}  // namespace dl::cuda
