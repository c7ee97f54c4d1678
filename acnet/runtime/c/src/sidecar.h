// The JSON sidecar of a TensorRT engine (acnet/runtime/sidecar.py): read,
// checked against the shared schema and the engine file, and compared with
// the TensorRT and GPU at hand. Backend-independent, so it is tested and
// fuzzed without TensorRT.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model_info.h"

namespace acnet {

struct Sidecar {
  std::string tensorrt_version;    // "10.3.0.26" (format "version")
  std::string gpu_name;
  std::string compute_capability;  // "8.7"
  std::string precision;
  uint64_t engine_size = 0;        // bytes; 0 = not recorded
  ModelInfo info;
};

// EngineSidecar.from_dict: `source` names the sidecar in messages. Throws
// acnet::Error(ACNET_ERROR_INVALID_ARTIFACT) naming the field.
Sidecar sidecar_from_text(std::string_view text, const std::string& source);

// read_sidecar: the sidecar beside `engine` (engine + ".json"), which must
// describe an engine of `engine_size` bytes.
Sidecar read_sidecar(const std::string& engine, uint64_t engine_size);

// check_engine_compatible: the engine was built with this TensorRT
// (major.minor.patch of `trt_version`), for a GPU of compute capability `cc`
// ("8.7") named `gpu_name`; else acnet::Error(ACNET_ERROR_UNSUPPORTED)
// saying what differs and how to rebuild.
void check_engine_compatible(const Sidecar& sidecar, std::string_view trt_version, std::string_view gpu_name,
                             std::string_view cc, const std::string& engine);

// "10.3.0.26+cuda12" -> {10, 3, 0, 26}: the runs of digits before any '+'
// (at most 9 digits each; longer runs count as -1, which matches nothing).
std::vector<long> version_numbers(std::string_view text);

}  // namespace acnet
