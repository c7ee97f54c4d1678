// The metadata every acnet artefact carries (acnet/runtime/metadata.py
// ModelInfo.to_dict()), read from JSON and checked before a session uses it.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"

namespace acnet {

//: Newest metadata schema this library understands (metadata.py SCHEMA_VERSION).
constexpr int kSchemaVersion = 1;

struct Normalization {
  std::array<double, 3> rgb_mean{};
  std::array<double, 3> rgb_std{};
  double depth_mean = 0.0;  // metres
  double depth_std = 1.0;   // metres
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
};

// Build and validate a ModelInfo from the JSON of ModelInfo.to_dict().
// Throws acnet::Error(ACNET_ERROR_INVALID_ARTIFACT) naming `source` and the
// offending field.
ModelInfo model_info_from_json(const json::Value& value, const std::string& source);
ModelInfo model_info_from_text(std::string_view text, const std::string& source);

}  // namespace acnet
