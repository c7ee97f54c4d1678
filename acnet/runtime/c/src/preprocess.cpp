#include "preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "error.h"

namespace acnet {

LinearTaps linear_taps(int src, int dst) {
  LinearTaps t;
  t.i0.resize(dst);
  t.i1.resize(dst);
  t.w1.resize(dst);
  const double scale = static_cast<double>(src) / static_cast<double>(dst);
  for (int d = 0; d < dst; ++d) {
    double pos = (static_cast<double>(d) + 0.5) * scale - 0.5;
    if (pos < 0.0) pos = 0.0;
    int64_t i0 = static_cast<int64_t>(std::floor(pos));
    i0 = std::min<int64_t>(i0, src - 1);
    t.i0[d] = i0;
    t.i1[d] = std::min<int64_t>(i0 + 1, src - 1);
    t.w1[d] = static_cast<float>(pos - static_cast<double>(i0));
  }
  return t;
}

std::vector<int64_t> nearest_indices(int src, int dst) {
  std::vector<int64_t> idx(dst);
  const double scale = static_cast<double>(src) / static_cast<double>(dst);
  for (int d = 0; d < dst; ++d) {
    int64_t i = static_cast<int64_t>(std::floor((static_cast<double>(d) + 0.5) * scale));
    idx[d] = std::min<int64_t>(i, src - 1);
  }
  return idx;
}

void preprocess_rgb(const uint8_t* rgb, int height, int width, int out_height, int out_width,
                    const Normalization& norm, float* out) {
  // normalize_rgb: mean and 1/std in float32, scaled to 0..255.
  const NormalizationConstants k = normalization_constants(norm);
  const float* mean = k.rgb_mean255.data();
  const float* inv_std = k.rgb_inv_std255.data();
  const size_t plane = static_cast<size_t>(out_height) * out_width;
  if (height == out_height && width == out_width) {
    for (size_t p = 0; p < plane; ++p) {
      for (int c = 0; c < 3; ++c) {
        out[c * plane + p] = (static_cast<float>(rgb[p * 3 + c]) - mean[c]) * inv_std[c];
      }
    }
    return;
  }
  const LinearTaps ty = linear_taps(height, out_height);
  const LinearTaps tx = linear_taps(width, out_width);
  const size_t stride = static_cast<size_t>(width) * 3;
  for (int y = 0; y < out_height; ++y) {
    const uint8_t* top = rgb + static_cast<size_t>(ty.i0[y]) * stride;
    const uint8_t* bottom = rgb + static_cast<size_t>(ty.i1[y]) * stride;
    const float wy = ty.w1[y];
    for (int x = 0; x < out_width; ++x) {
      const size_t a = static_cast<size_t>(tx.i0[x]) * 3;
      const size_t b = static_cast<size_t>(tx.i1[x]) * 3;
      const float wx = tx.w1[x];
      for (int c = 0; c < 3; ++c) {
        // rows = top + (bottom - top) * wy, at the two source columns ...
        const float ta = static_cast<float>(top[a + c]);
        const float tb = static_cast<float>(top[b + c]);
        const float left = ta + (static_cast<float>(bottom[a + c]) - ta) * wy;
        const float right = tb + (static_cast<float>(bottom[b + c]) - tb) * wy;
        // ... then left + (right - left) * wx.
        const float v = left + (right - left) * wx;
        out[c * plane + static_cast<size_t>(y) * out_width + x] = (v - mean[c]) * inv_std[c];
      }
    }
  }
}

void preprocess_depth(const uint16_t* depth_mm, int height, int width, int out_height, int out_width,
                      const Normalization& norm, float* out) {
  const float scale = static_cast<float>(0.001);  // default_depth_scale for uint16: millimetres
  const NormalizationConstants k = normalization_constants(norm);
  const float mean = k.depth_mean;
  const float inv_std = k.depth_inv_std;
  const std::vector<int64_t> iy = nearest_indices(height, out_height);
  const std::vector<int64_t> ix = nearest_indices(width, out_width);
  for (int y = 0; y < out_height; ++y) {
    const uint16_t* row = depth_mm + static_cast<size_t>(iy[y]) * width;
    float* dst = out + static_cast<size_t>(y) * out_width;
    for (int x = 0; x < out_width; ++x) {
      const float metres = static_cast<float>(row[ix[x]]) * scale;
      dst[x] = (metres - mean) * inv_std;
    }
  }
}

namespace {

// One output row of resize_bilinear_chw for every channel: the vertical
// interpolation `rows = top + (bottom - top) * wy` at the model's width.
void vertical_row(const float* logits, int channels, int height, int width, int64_t y0, int64_t y1, float wy,
                  float* rows) {
  const size_t plane = static_cast<size_t>(height) * width;
  for (int c = 0; c < channels; ++c) {
    const float* top = logits + c * plane + static_cast<size_t>(y0) * width;
    const float* bottom = logits + c * plane + static_cast<size_t>(y1) * width;
    float* dst = rows + static_cast<size_t>(c) * width;
    for (int x = 0; x < width; ++x) dst[x] = top[x] + (bottom[x] - top[x]) * wy;
  }
}

}  // namespace

namespace {

// postprocess.py logits_to_class_ids: the first maximum; a pixel whose
// logits contain NaN gets 0 (void).
struct ArgMax {
  int index = 0;
  float best = 0.0f;
  bool nan = false;
  void add(int c, float v) {
    if (std::isnan(v)) {
      nan = true;
    } else if (c == 0 || v > best) {
      index = c;
      best = v;
    }
  }
  uint8_t label(int offset) const { return nan ? 0 : static_cast<uint8_t>(index + offset); }
};

}  // namespace

void logits_to_labels(const float* logits, int channels, int height, int width, int out_height, int out_width,
                      int class_id_offset, uint8_t* labels) {
  // The metadata checks guarantee this; checked again (without overflow)
  // because a wrapped class id would be silently wrong.
  if (channels < 1 || channels > 256 || class_id_offset < 0 || class_id_offset > 256 - channels) {
    fail(ACNET_ERROR_INVALID_ARGUMENT, "class ids " + std::to_string(class_id_offset) + " + 0.." +
                                           std::to_string(channels) + " - 1 do not fit in 0..255");
  }
  const size_t plane = static_cast<size_t>(height) * width;
  if (height == out_height && width == out_width) {
    for (size_t p = 0; p < plane; ++p) {
      ArgMax am;
      for (int c = 0; c < channels; ++c) am.add(c, logits[c * plane + p]);
      labels[p] = am.label(class_id_offset);
    }
    return;
  }
  const LinearTaps ty = linear_taps(height, out_height);
  const LinearTaps tx = linear_taps(width, out_width);
  std::vector<float> rows(static_cast<size_t>(channels) * width);
  for (int y = 0; y < out_height; ++y) {
    vertical_row(logits, channels, height, width, ty.i0[y], ty.i1[y], ty.w1[y], rows.data());
    uint8_t* dst = labels + static_cast<size_t>(y) * out_width;
    for (int x = 0; x < out_width; ++x) {
      const int64_t x0 = tx.i0[x];
      const int64_t x1 = tx.i1[x];
      const float wx = tx.w1[x];
      ArgMax am;
      for (int c = 0; c < channels; ++c) {
        const float* r = rows.data() + static_cast<size_t>(c) * width;
        const float left = r[x0];
        am.add(c, left + (r[x1] - left) * wx);
      }
      dst[x] = am.label(class_id_offset);
    }
  }
}

void resize_labels(const int32_t* labels, int height, int width, int out_height, int out_width, uint8_t* out) {
  const std::vector<int64_t> iy = nearest_indices(height, out_height);
  const std::vector<int64_t> ix = nearest_indices(width, out_width);
  for (int y = 0; y < out_height; ++y) {
    const int32_t* row = labels + static_cast<size_t>(iy[y]) * width;
    uint8_t* dst = out + static_cast<size_t>(y) * out_width;
    for (int x = 0; x < out_width; ++x) dst[x] = static_cast<uint8_t>(row[ix[x]]);
  }
}

}  // namespace acnet
