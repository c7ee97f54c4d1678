// The C ABI (include/acnet.h): argument checks, the session, error messages.
// Every entry point catches everything; nothing but a status crosses the ABI.
#include "acnet.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "backend.h"
#include "error.h"
#include "preprocess.h"

#ifndef ACNET_VERSION_STRING
#define ACNET_VERSION_STRING "unknown"
#endif

struct acnet_session {
  std::unique_ptr<acnet::Backend> backend;
  // Serialises inference; the buffers below belong to the call holding it.
  std::mutex run_mutex;
  std::vector<float> rgb, depth, logits;
  std::vector<int32_t> labels;
  std::vector<uint8_t> confidence;  // camera-native models: acnet_segment's unused confidence

  // The last successful call's times (acnet_last_timing), in milliseconds.
  std::atomic<double> total_ms{0.0}, model_ms{0.0};

  mutable std::mutex error_mutex;
  mutable std::string last_error;
};

namespace acnet {
namespace {

thread_local std::string t_last_error;

void record(const acnet_session* session, const std::string& message) {
  t_last_error = message;
  if (session) {
    std::lock_guard<std::mutex> lock(session->error_mutex);
    session->last_error = message;
  }
}

// Run `body`; turn whatever it throws into a status and a recorded message.
template <class Body>
acnet_status guarded(const acnet_session* session, Body&& body) noexcept {
  try {
    try {
      body();
      record(session, "");
      return ACNET_OK;
    } catch (const Error& e) {
      record(session, e.what());
      return e.status();
    } catch (const std::bad_alloc&) {
      record(session, "out of memory");
      return ACNET_ERROR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
      record(session, std::string("internal error: ") + e.what());
      return ACNET_ERROR_INTERNAL;
    } catch (...) {
      record(session, "internal error: unknown exception");
      return ACNET_ERROR_INTERNAL;
    }
  } catch (...) {  // recording itself failed (out of memory)
    return ACNET_ERROR_OUT_OF_MEMORY;
  }
}

void require(const void* pointer, const char* name) {
  if (!pointer) fail(ACNET_ERROR_INVALID_ARGUMENT, std::string(name) + " is NULL");
}

void check_frame(const uint8_t* rgb, const uint16_t* depth_mm, int height, int width) {
  require(rgb, "rgb");
  require(depth_mm, "depth_mm");
  if (height < 1 || width < 1 || height > ACNET_MAX_SIDE || width > ACNET_MAX_SIDE) {
    fail(ACNET_ERROR_INVALID_ARGUMENT, "image size " + std::to_string(height) + "x" + std::to_string(width) +
                                           " is outside 1.." + std::to_string(ACNET_MAX_SIDE) + " per side");
  }
}

bool ends_with(const std::string& text, const std::string& suffix) {
  if (text.size() < suffix.size()) return false;
  return std::equal(suffix.rbegin(), suffix.rend(), text.rbegin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

enum class ArtifactKind { Aoti, TensorRT };

// Tell the artefact's kind from its content (a .pt2 is a zip archive) and
// suffix, refusing what is missing or foreign before any backend sees it.
ArtifactKind artifact_kind(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) fail(ACNET_ERROR_NOT_FOUND, "artefact " + path + " not found");
  if (std::filesystem::is_directory(status)) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, path + " is a directory; expected a .pt2 package or an engine file");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) fail(ACNET_ERROR_NOT_FOUND, "cannot open " + path + " for reading");
  char magic[4] = {0, 0, 0, 0};
  file.read(magic, sizeof magic);
  if (file.gcount() == 4 && std::memcmp(magic, "PK\x03\x04", 4) == 0) return ArtifactKind::Aoti;
  if (ends_with(path, ".engine") || ends_with(path, ".plan")) return ArtifactKind::TensorRT;
  if (ends_with(path, ".onnx")) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, path + " is an ONNX model; the C library runs AOTInductor packages "
                                              "(`acnet export aoti`) and TensorRT engines (`acnet export trt`)");
  }
  if (ends_with(path, ".pt2")) fail(ACNET_ERROR_INVALID_ARTIFACT, path + " is not a zip archive, so not a .pt2 package");
  fail(ACNET_ERROR_INVALID_ARTIFACT, path + " is neither an AOTInductor package (.pt2) nor a TensorRT engine "
                                            "(.engine/.plan)");
}

std::unique_ptr<Backend> open_backend(const std::string& path, const Device& device) {
  switch (artifact_kind(path)) {
    case ArtifactKind::Aoti:
#ifdef ACNET_HAVE_AOTI
      return open_aoti(path, device);
#else
      fail(ACNET_ERROR_UNSUPPORTED, path + " is an AOTInductor package, but this library was built without the "
                                           "AOTInductor backend (torch was not found by CMake)");
#endif
    case ArtifactKind::TensorRT:
#ifdef ACNET_HAVE_TENSORRT
      return open_tensorrt(path, device);
#else
      fail(ACNET_ERROR_UNSUPPORTED, path + " is a TensorRT engine, but this library was built without the TensorRT "
                                           "backend (CMake did not find TensorRT and CUDA)");
#endif
  }
  fail(ACNET_ERROR_INTERNAL, "unknown artefact kind");
}

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Preprocess one frame into the session's buffers and run the model; returns
// the model's time (ms). The caller holds session->run_mutex.
double infer(acnet_session* s, const uint8_t* rgb, const uint16_t* depth_mm, int height, int width) {
  const ModelInfo& info = s->backend->info();
  preprocess_rgb(rgb, height, width, info.input_height, info.input_width, info.normalization, s->rgb.data());
  preprocess_depth(depth_mm, height, width, info.input_height, info.input_width, info.normalization,
                   s->depth.data());
  const Clock::time_point start = Clock::now();
  s->backend->run(s->rgb.data(), s->depth.data(), s->logits.data(), s->labels.data());
  return ms_since(start);
}

// A camera-native model's frame must be its camera's size and depth type.
void check_camera_frame(const ModelInfo& info, acnet_depth_type depth_type, int height, int width) {
  const Camera& c = info.camera;
  if (height != c.height || width != c.width) {
    fail(ACNET_ERROR_INVALID_ARGUMENT, "this camera-native model takes " + std::to_string(c.height) + "x" +
                                           std::to_string(c.width) + " frames, got " + std::to_string(height) + "x" +
                                           std::to_string(width) + "; export it with --camera-size " +
                                           std::to_string(height) + "x" + std::to_string(width) + " for that camera");
  }
  const bool uint16 = c.depth_dtype == "uint16";
  if (depth_type != (uint16 ? ACNET_DEPTH_UINT16 : ACNET_DEPTH_FLOAT32)) {
    fail(ACNET_ERROR_INVALID_ARGUMENT,
         uint16 ? "this camera-native model takes uint16 depth (ACNET_DEPTH_UINT16), not float32 metres"
                : "this camera-native model takes float32 metres (ACNET_DEPTH_FLOAT32), not uint16 depth");
  }
}

// Hand a camera frame to the backend as it is; returns the model's time (ms).
// The caller holds session->run_mutex.
double run_camera(acnet_session* s, const uint8_t* rgb, const void* depth, uint8_t* labels, uint8_t* confidence) {
  const Clock::time_point start = Clock::now();
  s->backend->run_camera(rgb, depth, labels, confidence ? confidence : s->confidence.data());
  return ms_since(start);
}

void record_timing(acnet_session* s, Clock::time_point start, double model_ms) {
  s->total_ms = ms_since(start);
  s->model_ms = model_ms;
}

const ModelInfo& info_of(const acnet_session* session) {
  require(session, "session");
  return session->backend->info();
}

}  // namespace

std::string Device::str() const {
  switch (kind) {
    case Kind::Cpu: return "cpu";
    case Kind::Cuda: return index < 0 ? "cuda" : "cuda:" + std::to_string(index);
    default: return "";
  }
}

Device parse_device(const char* text) {
  Device d;
  if (!text) return d;
  std::string s(text);
  s.erase(0, s.find_first_not_of(" \t"));
  s.erase(s.find_last_not_of(" \t") + 1);
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (s.empty()) return d;
  if (s == "cpu") {
    d.kind = Device::Kind::Cpu;
    return d;
  }
  if (s == "cuda") {
    d.kind = Device::Kind::Cuda;
    return d;
  }
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() <= 8 &&
      std::all_of(s.begin() + 5, s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    d.kind = Device::Kind::Cuda;
    d.index = std::stoi(s.substr(5));
    return d;
  }
  fail(ACNET_ERROR_INVALID_ARGUMENT, "unknown device '" + std::string(text) + "'; use cpu, cuda or cuda:N");
}

void Backend::run_camera(const uint8_t*, const void*, uint8_t*, uint8_t*) {
  fail(ACNET_ERROR_UNSUPPORTED, "the " + name_ + " backend does not run camera-native models");
}

void check_servable(const ModelInfo& info, const std::string& source) {
  if (info.depth_unit != "m") {
    fail(ACNET_ERROR_UNSUPPORTED, source + " expects depth in '" + printable(info.depth_unit) +
                                      "'; the C library feeds metres (millimetres / 1000), like the Python runtime");
  }
  if (info.output != "logits" && info.output != "labels") {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source + ": unknown output kind '" + printable(info.output) + "' in its metadata");
  }
  if (info.batch > 1) {
    fail(ACNET_ERROR_UNSUPPORTED, source + " was exported for batches of " + std::to_string(info.batch) +
                                      "; the C library runs one frame at a time: export with batch 1 (or dynamic)");
  }
}

}  // namespace acnet

using acnet::fail;

extern "C" {

const char* acnet_version(void) { return ACNET_VERSION_STRING; }

int acnet_abi_version(void) { return ACNET_ABI_VERSION; }

const char* acnet_status_name(acnet_status status) {
  switch (status) {
    case ACNET_OK: return "ACNET_OK";
    case ACNET_ERROR_INVALID_ARGUMENT: return "ACNET_ERROR_INVALID_ARGUMENT";
    case ACNET_ERROR_BUFFER_TOO_SMALL: return "ACNET_ERROR_BUFFER_TOO_SMALL";
    case ACNET_ERROR_NOT_FOUND: return "ACNET_ERROR_NOT_FOUND";
    case ACNET_ERROR_INVALID_ARTIFACT: return "ACNET_ERROR_INVALID_ARTIFACT";
    case ACNET_ERROR_UNSUPPORTED: return "ACNET_ERROR_UNSUPPORTED";
    case ACNET_ERROR_INFERENCE: return "ACNET_ERROR_INFERENCE";
    case ACNET_ERROR_OUT_OF_MEMORY: return "ACNET_ERROR_OUT_OF_MEMORY";
    case ACNET_ERROR_INTERNAL: return "ACNET_ERROR_INTERNAL";
  }
  return "ACNET_UNKNOWN_STATUS";
}

acnet_status acnet_session_create(const char* artifact_path, const char* device, acnet_session** out) {
  return acnet::guarded(nullptr, [&] {
    acnet::require(out, "out");
    *out = nullptr;
    if (!artifact_path || !*artifact_path) fail(ACNET_ERROR_INVALID_ARGUMENT, "artifact_path is NULL or empty");
    const acnet::Device parsed = acnet::parse_device(device);
    auto session = std::make_unique<acnet_session>();
    session->backend = acnet::open_backend(artifact_path, parsed);
    const acnet::ModelInfo& info = session->backend->info();
    if (info.camera_native) {
      // No buffers of its own but the confidence acnet_segment does not return; one blank frame
      // checks the outputs and takes the first-run allocations out of the caller's first frame.
      const size_t pixels = static_cast<size_t>(info.camera.height) * info.camera.width;
      session->confidence.assign(pixels, 0);
      std::vector<uint8_t> rgb(3 * pixels, 0), labels(pixels, 0);
      std::vector<float> depth(pixels, 0.0f);  // as many bytes as uint16 needs, and zero as either type
      session->backend->run_camera(rgb.data(), depth.data(), labels.data(), session->confidence.data());
      *out = session.release();
      return;
    }
    const size_t plane = static_cast<size_t>(info.input_height) * info.input_width;
    session->rgb.assign(3 * plane, 0.0f);
    session->depth.assign(plane, 0.0f);
    if (info.output == "logits") session->logits.assign(static_cast<size_t>(info.num_classes) * plane, 0.0f);
    else session->labels.assign(plane, 0);
    // One run on a blank frame: checks the output against the metadata and
    // takes the first-run allocations out of the caller's first frame.
    session->backend->run(session->rgb.data(), session->depth.data(), session->logits.data(),
                          session->labels.data());
    *out = session.release();
  });
}

void acnet_session_destroy(acnet_session* session) {
  try {
    delete session;
  } catch (...) {  // a backend's destructor must not take the caller down
  }
}

acnet_status acnet_segment(acnet_session* session, const uint8_t* rgb, const uint16_t* depth_mm, int height,
                           int width, uint8_t* labels_out) {
  return acnet::guarded(session, [&] {
    acnet::require(session, "session");
    acnet::check_frame(rgb, depth_mm, height, width);
    acnet::require(labels_out, "labels_out");
    const auto start = acnet::Clock::now();
    const acnet::ModelInfo& info = session->backend->info();
    std::lock_guard<std::mutex> lock(session->run_mutex);
    if (info.camera_native) {
      acnet::check_camera_frame(info, ACNET_DEPTH_UINT16, height, width);
      acnet::record_timing(session, start, acnet::run_camera(session, rgb, depth_mm, labels_out, nullptr));
      return;
    }
    const double model_ms = acnet::infer(session, rgb, depth_mm, height, width);
    if (info.output == "logits") {
      acnet::logits_to_labels(session->logits.data(), info.num_classes, info.input_height, info.input_width, height,
                              width, info.class_id_offset, labels_out);
    } else {
      acnet::resize_labels(session->labels.data(), info.input_height, info.input_width, height, width, labels_out);
    }
    acnet::record_timing(session, start, model_ms);
  });
}

acnet_status acnet_segment_camera(acnet_session* session, const uint8_t* rgb, const void* depth,
                                  acnet_depth_type depth_type, int height, int width, uint8_t* labels_out,
                                  uint8_t* confidence_out) {
  return acnet::guarded(session, [&] {
    acnet::require(session, "session");
    acnet::require(rgb, "rgb");
    acnet::require(depth, "depth");
    acnet::require(labels_out, "labels_out");
    const auto start = acnet::Clock::now();
    const acnet::ModelInfo& info = session->backend->info();
    if (!info.camera_native) {
      fail(ACNET_ERROR_UNSUPPORTED, "this model takes normalised tensors, not camera buffers (it was exported "
                                    "without --io camera): use acnet_segment, which preprocesses the frame");
    }
    if (depth_type != ACNET_DEPTH_UINT16 && depth_type != ACNET_DEPTH_FLOAT32) {
      fail(ACNET_ERROR_INVALID_ARGUMENT, "depth_type " + std::to_string(static_cast<int>(depth_type)) +
                                             " is neither ACNET_DEPTH_UINT16 nor ACNET_DEPTH_FLOAT32");
    }
    acnet::check_camera_frame(info, depth_type, height, width);
    std::lock_guard<std::mutex> lock(session->run_mutex);
    acnet::record_timing(session, start, acnet::run_camera(session, rgb, depth, labels_out, confidence_out));
  });
}

acnet_status acnet_camera(const acnet_session* session, int* height, int* width, acnet_depth_type* depth_type,
                          double* depth_scale) {
  return acnet::guarded(session, [&] {
    const acnet::ModelInfo& info = acnet::info_of(session);
    if (!info.camera_native) {
      fail(ACNET_ERROR_UNSUPPORTED, "this model was exported without --io camera: it takes frames of any size "
                                    "and has no camera");
    }
    if (height) *height = info.camera.height;
    if (width) *width = info.camera.width;
    if (depth_type) *depth_type = info.camera.depth_dtype == "uint16" ? ACNET_DEPTH_UINT16 : ACNET_DEPTH_FLOAT32;
    if (depth_scale) *depth_scale = info.camera.depth_scale;
  });
}

acnet_status acnet_last_timing(const acnet_session* session, double* total_ms, double* model_ms) {
  return acnet::guarded(session, [&] {
    acnet::require(session, "session");
    if (total_ms) *total_ms = session->total_ms;
    if (model_ms) *model_ms = session->model_ms;
  });
}

acnet_status acnet_logits_size(const acnet_session* session, size_t* count) {
  return acnet::guarded(session, [&] {
    const acnet::ModelInfo& info = acnet::info_of(session);
    acnet::require(count, "count");
    *count = static_cast<size_t>(info.num_classes) * info.input_height * info.input_width;
  });
}

acnet_status acnet_logits(acnet_session* session, const uint8_t* rgb, const uint16_t* depth_mm, int height, int width,
                          float* logits_out, size_t capacity) {
  return acnet::guarded(session, [&] {
    const acnet::ModelInfo& info = acnet::info_of(session);
    acnet::check_frame(rgb, depth_mm, height, width);
    acnet::require(logits_out, "logits_out");
    if (info.camera_native) {
      fail(ACNET_ERROR_UNSUPPORTED, "this model was exported with --io camera and outputs labels and confidence "
                                    "only; use acnet_segment_camera, or export with --io tensor for logits");
    }
    if (info.output != "logits") {
      fail(ACNET_ERROR_UNSUPPORTED, "this model was exported with --argmax and outputs class ids only; "
                                    "use acnet_segment, or export without --argmax for logits");
    }
    const size_t needed = static_cast<size_t>(info.num_classes) * info.input_height * info.input_width;
    if (capacity < needed) {
      fail(ACNET_ERROR_BUFFER_TOO_SMALL, "logits_out holds " + std::to_string(capacity) + " floats but the model's " +
                                             std::to_string(info.num_classes) + "x" +
                                             std::to_string(info.input_height) + "x" +
                                             std::to_string(info.input_width) + " logits need " +
                                             std::to_string(needed) + " (acnet_logits_size)");
    }
    const auto start = acnet::Clock::now();
    std::lock_guard<std::mutex> lock(session->run_mutex);
    const double model_ms = acnet::infer(session, rgb, depth_mm, height, width);
    std::memcpy(logits_out, session->logits.data(), needed * sizeof(float));
    acnet::record_timing(session, start, model_ms);
  });
}

acnet_status acnet_num_classes(const acnet_session* session, int* count) {
  return acnet::guarded(session, [&] {
    const acnet::ModelInfo& info = acnet::info_of(session);
    acnet::require(count, "count");
    *count = info.num_classes;
  });
}

acnet_status acnet_class_name(const acnet_session* session, int class_id, const char** name) {
  return acnet::guarded(session, [&] {
    const acnet::ModelInfo& info = acnet::info_of(session);
    acnet::require(name, "name");
    // In 64 bits: class_id is the caller's, anything from INT_MIN to INT_MAX.
    const int64_t first = info.class_id_offset;
    const int64_t last = first + info.num_classes - 1;
    if (class_id < first || class_id > last) {
      fail(ACNET_ERROR_INVALID_ARGUMENT, "class id " + std::to_string(class_id) + " is outside " +
                                             std::to_string(first) + ".." + std::to_string(last) +
                                             (class_id == 0 ? " (0 is void)" : ""));
    }
    *name = info.class_names[static_cast<size_t>(class_id - first)].c_str();
  });
}

acnet_status acnet_input_size(const acnet_session* session, int* height, int* width) {
  return acnet::guarded(session, [&] {
    const acnet::ModelInfo& info = acnet::info_of(session);
    acnet::require(height, "height");
    acnet::require(width, "width");
    *height = info.input_height;
    *width = info.input_width;
  });
}

acnet_status acnet_backend(const acnet_session* session, const char** name) {
  return acnet::guarded(session, [&] {
    acnet::require(session, "session");
    acnet::require(name, "name");
    *name = session->backend->name().c_str();
  });
}

const char* acnet_last_error(const acnet_session* session) {
  if (!session) return acnet::t_last_error.c_str();
  try {
    std::lock_guard<std::mutex> lock(session->error_mutex);
    return session->last_error.c_str();
  } catch (...) {  // std::mutex::lock may throw std::system_error
    return "";
  }
}

}  // extern "C"
