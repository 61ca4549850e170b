/* Loads and stores through the accumulation type (ax_acc<T>: float, or double for
 * f64), so templated kernels keep f64 exact while bf16/f16 compute in f32. */
#ifndef AXON_KERNELS_CUDA_ACC_CUH
#define AXON_KERNELS_CUDA_ACC_CUH

#include "kernels/cuda/common.cuh"

template <typename T> __device__ __forceinline__ typename ax_acc<T>::type ax_acc_load(T v) { return ax_to_f(v); }
template <> __device__ __forceinline__ double ax_acc_load<double>(double v) { return v; }
template <typename T> __device__ __forceinline__ T ax_acc_store(typename ax_acc<T>::type v) { return ax_from_f<T>(v); }
template <> __device__ __forceinline__ double ax_acc_store<double>(double v) { return v; }

#endif
