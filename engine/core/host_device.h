// DL_HOST_DEVICE marks small inline functions that the CUDA kernels (ops' .cu files, compiled by nvcc) call
// too.
#pragma once

#ifdef __CUDACC__
#define DL_HOST_DEVICE __host__ __device__
#else
#define DL_HOST_DEVICE
#endif
