// The metadata every acnet artefact carries (acnet/runtime/metadata.py
// ModelInfo.to_dict()), read from JSON and checked before a session uses it:
// each field's type and range by the shared schema (schema.h), then the
// rules that tie fields together, as ModelInfo and Normalization do.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"

namespace acnet {

struct Normalization {
  std::array<double, 3> rgb_mean{};
  std::array<double, 3> rgb_std{};
  double depth_mean = 0.0;  // metres
  double depth_std = 1.0;   // metres
};

// The float32 constants preprocessing computes with (preprocess.py
// normalization_constants): mean * 255 and 1 / (std * 255) per RGB channel,
// the depth mean and 1 / depth_std. Normalisation is valid when all of them
// are finite and the reciprocals non-zero: a std that is positive as a
// double can still be 0 or infinite in float32.
struct NormalizationConstants {
  std::array<float, 3> rgb_mean255{};
  std::array<float, 3> rgb_inv_std255{};
  float depth_mean = 0.0f;
  float depth_inv_std = 1.0f;
};
NormalizationConstants normalization_constants(const Normalization& norm);

// A camera-native model's camera (metadata.py CameraIO): it takes uint8 RGB
// (N, height, width, 3) and depth (N, height, width) as the camera gives them
// and returns uint8 labels and confidence at the same size.
struct Camera {
  int height = 0;
  int width = 0;
  std::string depth_dtype = "uint16";  // or "float32" (metres)
  double depth_scale = 0.001;          // metres per uint16 unit; 1 for float32
};

struct ModelInfo {
  std::string acnet_version;
  std::string backbone;
  std::string fusion;
  int num_classes = 0;
  std::vector<std::string> class_names;
  int input_height = 0;
  int input_width = 0;
  Normalization normalization;
  std::string depth_unit = "m";
  std::string output = "logits";
  std::string precision = "fp32";
  int batch = 1;  // 0 = dynamic
  bool dynamic_hw = false;
  std::string source_sha256;
  int class_id_offset = 1;
  bool camera_native = false;  // "io": "camera"
  Camera camera;
};

// Build and validate a ModelInfo from the JSON of ModelInfo.to_dict().
// Throws acnet::Error(ACNET_ERROR_INVALID_ARTIFACT) naming `source` and the
// offending field. Whether this library can serve the model (depth unit,
// output kind, batch) is check_servable's question (backend.h).
ModelInfo model_info_from_json(const json::Value& value, const std::string& source);
ModelInfo model_info_from_text(std::string_view text, const std::string& source);

}  // namespace acnet
