// The CUDA plugin's entry point: device discovery through the runtime API. Loaded with dlopen by
// engine/backend/device.cpp for --device cuda; nothing outside this folder includes CUDA headers.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

extern "C" __attribute__((visibility("default"))) int dlctl_cuda_devices(char (*names)[256], int cap,
                                                                         char * error, int error_len) {
    int count = 0;
    const cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess) {
        if (rc == cudaErrorNoDevice)
            std::snprintf(error, static_cast<size_t>(error_len), "the NVIDIA driver reports no GPU");
        else if (rc == cudaErrorInsufficientDriver)
            std::snprintf(error, static_cast<size_t>(error_len),
                          "no NVIDIA driver is loaded, or it is older than this build's CUDA runtime (%s)",
                          cudaGetErrorString(rc));
        else
            std::snprintf(error, static_cast<size_t>(error_len), "%s", cudaGetErrorString(rc));
        return rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver ? 0 : -1;
    }
    for (int i = 0; i < count && i < cap; ++i) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) std::snprintf(names[i], 256, "%s", prop.name);
    }
    if (count > 0) {
        // Proves cuBLAS links and initialises on this device; the handle is the seed of the backend of issue
        // [5].
        cublasHandle_t handle = nullptr;
        if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
            std::snprintf(error, static_cast<size_t>(error_len), "cuBLAS failed to initialise");
            return -1;
        }
        cublasDestroy(handle);
    }
    return count;
}
