// A fake CUDA runtime for the fake TensorRT (fake_tensorrt.cpp): one device
// whose memory is host memory, with a memory limit (so a huge engine or
// metadata fails as cudaErrorMemoryAllocation does on a real GPU), and
// synchronous copies. Only what the C library's TensorRT backend calls.
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

#include "fake_gpu.h"

struct CUstream_st {
  int unused;
};

namespace {

std::mutex g_mutex;
std::unordered_map<void*, size_t> g_blocks;  // device and pinned allocations and their sizes
size_t g_in_use = 0;
thread_local int g_device = 0;

cudaError_t allocate(void** ptr, size_t size) {
  if (!ptr) return cudaErrorInvalidValue;
  *ptr = nullptr;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (size > acnet_fake::kMemoryBytes - g_in_use) return cudaErrorMemoryAllocation;
  void* p = std::malloc(size ? size : 1);
  if (!p) return cudaErrorMemoryAllocation;
  try {
    g_blocks[p] = size;
  } catch (...) {
    std::free(p);
    return cudaErrorMemoryAllocation;
  }
  g_in_use += size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(void* ptr) {
  if (!ptr) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_blocks.find(ptr);
  if (it == g_blocks.end()) return cudaErrorInvalidValue;
  g_in_use -= it->second;
  g_blocks.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

}  // namespace

extern "C" {

cudaError_t CUDARTAPI cudaGetDeviceCount(int* count) {
  if (!count) return cudaErrorInvalidValue;
  *count = 1;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaSetDevice(int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  g_device = device;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return cudaErrorInvalidValue;
  if (device != 0) return cudaErrorInvalidDevice;
  std::memset(prop, 0, sizeof *prop);
  std::strncpy(prop->name, acnet_fake::kGpuName, sizeof prop->name - 1);
  prop->major = acnet_fake::kComputeMajor;
  prop->minor = acnet_fake::kComputeMinor;
  prop->totalGlobalMem = acnet_fake::kMemoryBytes;
  return cudaSuccess;
}

const char* CUDARTAPI cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    default: return "cudaErrorUnknown";
  }
}

const char* CUDARTAPI cudaGetErrorString(cudaError_t error) {
  return error == cudaErrorMemoryAllocation ? "out of memory (fake GPU)" : "fake CUDA error";
}

cudaError_t CUDARTAPI cudaStreamCreate(cudaStream_t* stream) {
  if (!stream) return cudaErrorInvalidValue;
  *stream = new (std::nothrow) CUstream_st{0};
  return *stream ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t CUDARTAPI cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t CUDARTAPI cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMalloc(void** ptr, size_t size) { return allocate(ptr, size); }
cudaError_t CUDARTAPI cudaMallocHost(void** ptr, size_t size) { return allocate(ptr, size); }
cudaError_t CUDARTAPI cudaFree(void* ptr) { return release(ptr); }
cudaError_t CUDARTAPI cudaFreeHost(void* ptr) { return release(ptr); }

cudaError_t CUDARTAPI cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind, cudaStream_t) {
  if (count && (!dst || !src)) return cudaErrorInvalidValue;
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}

}  // extern "C"
