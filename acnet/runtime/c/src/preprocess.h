// The C++ mirror of acnet/runtime/preprocess.py and postprocess.py. Every formula follows the
// numpy code operation by operation in float32 (built with
// -ffp-contract=off so no fused multiply-add changes a rounding), so a frame
// becomes the same input tensor as in Python, bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "model_info.h"

namespace acnet {

// Bilinear taps with half-pixel centres (preprocess.py _linear_taps).
struct LinearTaps {
  std::vector<int64_t> i0, i1;
  std::vector<float> w1;
};
LinearTaps linear_taps(int src, int dst);

// "nearest-exact" source indices: floor((dst + 0.5) * src / dst).
std::vector<int64_t> nearest_indices(int src, int dst);

// H x W x 3 uint8 RGB -> 3 x h x w float32: bilinear resize, then
// (x - mean * 255) / (std * 255) per channel.
void preprocess_rgb(const uint8_t* rgb, int height, int width, int out_height, int out_width,
                    const Normalization& norm, float* out);

// H x W uint16 millimetres -> 1 x h x w float32: nearest resize, metres,
// then (d - depth_mean) / depth_std.
void preprocess_depth(const uint16_t* depth_mm, int height, int width, int out_height, int out_width,
                      const Normalization& norm, float* out);

// C x h x w logits -> H x W uint8 class ids (postprocess_logits): bilinear
// resize, argmax over channels (first maximum) plus offset; 0 where a
// pixel's logits contain NaN.
void logits_to_labels(const float* logits, int channels, int height, int width, int out_height, int out_width,
                      int class_id_offset, uint8_t* labels);

// h x w int32 class ids (an --argmax model's output) -> H x W uint8, resized
// "nearest-exact" like Segmenter does for such models.
void resize_labels(const int32_t* labels, int height, int width, int out_height, int out_width, uint8_t* out);

}  // namespace acnet
