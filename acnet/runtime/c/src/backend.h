// What a session needs from an inference engine: run one preprocessed frame
// at the model's input size and return its logits. Backends validate their
// artefact on construction and throw acnet::Error on any failure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "model_info.h"

namespace acnet {

// A parsed device argument: "cpu", "cuda" or "cuda:N"; `any` when the caller
// left the choice to the artefact (NULL or "").
struct Device {
  enum class Kind { Any, Cpu, Cuda } kind = Kind::Any;
  int index = -1;  // CUDA ordinal; -1 = current/default
  std::string str() const;
};

// Throws Error(ACNET_ERROR_INVALID_ARGUMENT) for anything else.
Device parse_device(const char* text);

class Backend {
 public:
  virtual ~Backend() = default;

  // rgb: 1x3xHxW, depth: 1x1xHxW, both float32 and normalised, at
  // info().input_height x info().input_width. Writes the model's output:
  // logits (1xCxHxW float32) when info().output is "logits", else labels
  // (1xHxW int32 class ids); the other pointer is unused.
  virtual void run(const float* rgb, const float* depth, float* logits, int32_t* labels) = 0;

  // Camera-native models (info().camera_native): the camera's buffers as they
  // come, 1 x H x W x 3 uint8 RGB and 1 x H x W depth (uint16, or float32
  // metres, as info().camera.depth_dtype says) at info().camera's size, to
  // H x W uint8 labels and confidence. Backends that cannot run such models
  // keep this default, which refuses.
  virtual void run_camera(const uint8_t* rgb, const void* depth, uint8_t* labels, uint8_t* confidence);

  const ModelInfo& info() const { return info_; }
  // "aoti/cpu", "tensorrt/cuda:0", ...
  const std::string& name() const { return name_; }

 protected:
  ModelInfo info_;
  std::string name_;
};

// Factories; each exists only when its backend is compiled in (see
// CMakeLists.txt: ACNET_HAVE_AOTI, ACNET_HAVE_TENSORRT).
std::unique_ptr<Backend> open_aoti(const std::string& path, const Device& device);
std::unique_ptr<Backend> open_tensorrt(const std::string& path, const Device& device);

// Reject metadata the session cannot serve (batch, output kind); shared by backends.
void check_servable(const ModelInfo& info, const std::string& source);

}  // namespace acnet
