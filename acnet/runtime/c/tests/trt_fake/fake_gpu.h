// The one GPU of the fake CUDA runtime, and the TensorRT version the fake
// library reports: what tests/metadata_cases.json's "runtime" says.
#pragma once

#include <cstddef>

namespace acnet_fake {

constexpr const char* kGpuName = "NVIDIA Fake GPU";
constexpr int kComputeMajor = 8;
constexpr int kComputeMinor = 7;
// Device memory: enough for the tests' models, small enough that a
// sidecar promising a huge model fails like a real out-of-memory.
constexpr size_t kMemoryBytes = size_t{64} << 20;

}  // namespace acnet_fake
