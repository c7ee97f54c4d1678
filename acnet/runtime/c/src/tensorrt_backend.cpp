// TensorRT backend: an engine built by `acnet export trt`, checked against
// its JSON sidecar (acnet/runtime/sidecar.py) before it is deserialized, run
// with the name-based API (IExecutionContext::enqueueV3) on one CUDA stream.
// Mirrors acnet/runtime/backends/trt.py. A camera-native engine's buffers
// are its uint8 I/O: RGB, uint16 depth as its bytes (N, H, W, 2) (TensorRT
// has no unsigned 16-bit type; the engine recombines them), labels and
// confidence.
#include <NvInferRuntime.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

#include "backend.h"
#include "error.h"
#include "sidecar.h"

namespace acnet {
namespace {

// Keeps TensorRT's last error so our messages can quote it; prints nothing.
class Logger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, nvinfer1::AsciiChar const* msg) noexcept override {
    if (severity > Severity::kERROR || !msg) return;
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      last_ = msg;
    } catch (...) {
    }
  }
  std::string last() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_.empty() ? "" : " (TensorRT: " + last_ + ")";
  }

 private:
  std::mutex mutex_;
  std::string last_;
};

void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    fail(err == cudaErrorMemoryAllocation ? ACNET_ERROR_OUT_OF_MEMORY : ACNET_ERROR_INFERENCE,
         std::string("CUDA ") + what + " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  }
}

// The TensorRT library loaded at run time, as "major.minor.patch".
std::string runtime_trt_version() {
  const int v = getInferLibVersion();
  // TensorRT >= 10 encodes major*10000 + minor*100 + patch; 8.x major*1000 + minor*100 + patch.
  const int major = v >= 100000 ? v / 10000 : v / 1000;
  const int minor = v >= 100000 ? (v / 100) % 100 : (v / 100) % 10;
  const int patch = v % 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string dims_text(const nvinfer1::Dims& d) {
  std::string s = "(";
  for (int i = 0; i < d.nbDims; ++i) s += (i ? ", " : "") + (d.d[i] < 0 ? std::string("?") : std::to_string(d.d[i]));
  return s + ")";
}

size_t element_size(nvinfer1::DataType t) {
  switch (t) {
    case nvinfer1::DataType::kFLOAT: return 4;
    case nvinfer1::DataType::kHALF: return 2;
    case nvinfer1::DataType::kINT32: return 4;
    case nvinfer1::DataType::kUINT8: return 1;
    default: return 0;
  }
}

struct Tensor {
  std::string name;
  nvinfer1::DataType type = nvinfer1::DataType::kFLOAT;
  nvinfer1::Dims dims{};    // at batch 1 (camera-native engines; the others' are NCHW at the input size)
  size_t count = 0;         // elements at batch 1 and the model's input size
  void* device = nullptr;   // cudaMalloc
  void* host = nullptr;     // cudaMallocHost (pinned) staging buffer
};

// The stream and buffers, freed however construction ends.
struct CudaBuffers {
  int device = 0;
  cudaStream_t stream = nullptr;
  Tensor rgb, depth, out, confidence;

  CudaBuffers() = default;
  CudaBuffers(const CudaBuffers&) = delete;
  CudaBuffers& operator=(const CudaBuffers&) = delete;
  ~CudaBuffers() {
    cudaSetDevice(device);
    if (stream) cudaStreamSynchronize(stream);
    for (Tensor* t : {&rgb, &depth, &out, &confidence}) {
      if (t->device) cudaFree(t->device);
      if (t->host) cudaFreeHost(t->host);
    }
    if (stream) cudaStreamDestroy(stream);
  }
};

class TensorRTBackend final : public Backend {
 public:
  TensorRTBackend(const std::string& path, const Device& requested) {
    if (requested.kind == Device::Kind::Cpu) {
      fail(ACNET_ERROR_UNSUPPORTED, "TensorRT engines run on a CUDA device, not the CPU; use device \"cuda\"");
    }
    // File checks first: they need no GPU.
    const std::vector<char> blob = read_engine(path);
    const Sidecar sidecar = read_sidecar(path, blob.size());
    info_ = sidecar.info;
    check_servable(info_, "sidecar " + path + ".json");

    device_ = requested.index < 0 ? 0 : requested.index;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
      fail(ACNET_ERROR_UNSUPPORTED, "no CUDA device is available for the TensorRT engine " + path);
    }
    if (device_ >= count) {
      fail(ACNET_ERROR_UNSUPPORTED,
           "device cuda:" + std::to_string(device_) + " requested but only " + std::to_string(count) + " found");
    }
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    cudaDeviceProp prop{};
    cuda_check(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
    check_engine_compatible(sidecar, runtime_trt_version(), prop.name,
                            std::to_string(prop.major) + "." + std::to_string(prop.minor), path);

    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (!runtime_) fail(ACNET_ERROR_UNSUPPORTED, "cannot create a TensorRT runtime" + logger_.last());
    engine_.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
    if (!engine_) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, "TensorRT " + runtime_trt_version() + " could not deserialize " + path +
                                             " (corrupt, or built by another TensorRT)" + logger_.last());
    }
    if (info_.camera_native) {
      plan_camera(path);
    } else {
      plan(path);
    }
    context_.reset(engine_->createExecutionContext());
    if (!context_) {
      fail(ACNET_ERROR_OUT_OF_MEMORY,
           "TensorRT could not create an execution context on " + std::string(prop.name) + logger_.last());
    }
    bind(path);
    name_ = "tensorrt/cuda:" + std::to_string(device_);
  }

  void run(const float* rgb, const float* depth, float* logits, int32_t* labels) override {
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");  // the calling thread may be new
    upload(rgb_, rgb);
    upload(depth_, depth);
    if (!context_->enqueueV3(stream_)) {
      fail(ACNET_ERROR_INFERENCE, "TensorRT failed to run the engine" + logger_.last());
    }
    cuda_check(cudaMemcpyAsync(out_.host, out_.device, out_.count * element_size(out_.type), cudaMemcpyDeviceToHost,
                               stream_),
               "cudaMemcpyAsync");
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    if (info_.output == "labels") {
      std::memcpy(labels, out_.host, out_.count * sizeof(int32_t));
    } else if (out_.type == nvinfer1::DataType::kHALF) {
      const __half* h = static_cast<const __half*>(out_.host);
      for (size_t i = 0; i < out_.count; ++i) logits[i] = __half2float(h[i]);
    } else {
      std::memcpy(logits, out_.host, out_.count * sizeof(float));
    }
  }

  void run_camera(const uint8_t* rgb, const void* depth, uint8_t* labels, uint8_t* confidence) override {
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");  // the calling thread may be new
    upload_bytes(rgb_, rgb);
    upload_bytes(depth_, depth);  // uint16 depth: its bytes, as the engine takes them
    if (!context_->enqueueV3(stream_)) {
      fail(ACNET_ERROR_INFERENCE, "TensorRT failed to run the engine" + logger_.last());
    }
    for (Tensor* t : {&out_, &conf_}) {
      cuda_check(cudaMemcpyAsync(t->host, t->device, t->count, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
    }
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    std::memcpy(labels, out_.host, out_.count);
    std::memcpy(confidence, conf_.host, conf_.count);
  }

 private:
  // Destroyed in reverse order: buffers, context, engine, runtime, logger.
  Logger logger_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  CudaBuffers cuda_;
  int& device_ = cuda_.device;
  cudaStream_t& stream_ = cuda_.stream;
  Tensor& rgb_ = cuda_.rgb;
  Tensor& depth_ = cuda_.depth;
  Tensor& out_ = cuda_.out;
  Tensor& conf_ = cuda_.confidence;

  static std::vector<char> read_engine(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(ACNET_ERROR_NOT_FOUND, "cannot open engine " + path);
    std::vector<char> blob((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (blob.empty()) fail(ACNET_ERROR_INVALID_ARTIFACT, "engine " + path + " is empty");
    return blob;
  }

  // base.py resolve_signature: which input is RGB and which depth, which
  // output to read, and whether the shapes fit the metadata.
  void plan(const std::string& path) {
    std::map<std::string, nvinfer1::Dims> inputs, outputs;
    for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) {
      const char* name = engine_->getIOTensorName(i);
      (engine_->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT ? inputs : outputs)[name] =
          engine_->getTensorShape(name);
    }
    std::string described;
    for (const auto& [n, d] : inputs) described += (described.empty() ? "" : ", ") + printable(n) + dims_text(d);
    if (inputs.size() != 2 || std::any_of(inputs.begin(), inputs.end(), [](auto& kv) { return kv.second.nbDims != 4; })) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + " is not an RGB-D segmentation model: inputs " + described);
    }
    if (inputs.count("rgb") && inputs.count("depth")) {
      rgb_.name = "rgb";
      depth_.name = "depth";
    } else {
      for (const auto& [n, d] : inputs) (d.d[1] == 3 ? rgb_ : depth_).name = n;
      if (rgb_.name.empty() || depth_.name.empty() || inputs.at(depth_.name).d[1] != 1) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": cannot tell the RGB input from the depth input among " + described);
      }
    }
    const int64_t h = info_.input_height, w = info_.input_width;
    for (Tensor* t : {&rgb_, &depth_}) {
      const nvinfer1::Dims& d = inputs.at(t->name);
      const int64_t channels = t == &rgb_ ? 3 : 1;
      if ((d.d[1] != channels && d.d[1] != -1) || (d.d[2] != h && d.d[2] != -1) || (d.d[3] != w && d.d[3] != -1)) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": input '" + printable(t->name) + "' has shape " + dims_text(d) +
                                               " but its metadata says (N, " + std::to_string(channels) + ", " +
                                               std::to_string(h) + ", " + std::to_string(w) + ")");
      }
      if (d.d[0] != 1 && d.d[0] != -1) {
        fail(ACNET_ERROR_UNSUPPORTED, path + ": input '" + printable(t->name) + "' has batch " + std::to_string(d.d[0]) +
                                          "; the C library runs one frame at a time (build the engine for batch 1)");
      }
      const bool dynamic = std::any_of(d.d, d.d + 4, [](int64_t v) { return v < 0; });
      if (dynamic) {
        const nvinfer1::Dims lo = engine_->getProfileShape(t->name.c_str(), 0, nvinfer1::OptProfileSelector::kMIN);
        const nvinfer1::Dims hi = engine_->getProfileShape(t->name.c_str(), 0, nvinfer1::OptProfileSelector::kMAX);
        const int64_t want[4] = {1, channels, h, w};
        for (int k = 0; k < 4; ++k) {
          if (lo.nbDims == 4 && hi.nbDims == 4 && (want[k] < lo.d[k] || want[k] > hi.d[k])) {
            fail(ACNET_ERROR_UNSUPPORTED, path + ": the engine's profile for '" + printable(t->name) + "' allows " +
                                              dims_text(lo) + ".." + dims_text(hi) + ", not " +
                                              "(1, " + std::to_string(channels) + ", " + std::to_string(h) + ", " +
                                              std::to_string(w) + "); rebuild the engine");
          }
        }
      }
      t->type = engine_->getTensorDataType(t->name.c_str());
      if (t->type != nvinfer1::DataType::kFLOAT && t->type != nvinfer1::DataType::kHALF) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": input '" + printable(t->name) + "' is not float32 or float16");
      }
      t->count = static_cast<size_t>(channels * h * w);
    }

    if (outputs.count(info_.output)) {
      out_.name = info_.output;
    } else if (outputs.size() == 1) {
      out_.name = outputs.begin()->first;
    } else {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": no '" + info_.output + "' output");
    }
    const nvinfer1::Dims& o = outputs.at(out_.name);
    const int rank = info_.output == "logits" ? 4 : 3;
    if (o.nbDims != rank) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + printable(out_.name) + "' has shape " + dims_text(o) +
                                             ", expected rank " + std::to_string(rank) + " " + info_.output);
    }
    if (rank == 4 && o.d[1] != info_.num_classes && o.d[1] != -1) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + printable(out_.name) + "' has " + std::to_string(o.d[1]) +
                                             " classes but its metadata lists " +
                                             std::to_string(info_.num_classes) + " class names");
    }
    out_.type = engine_->getTensorDataType(out_.name.c_str());
    const bool ok_type = info_.output == "labels" ? out_.type == nvinfer1::DataType::kINT32
                                                  : (out_.type == nvinfer1::DataType::kFLOAT ||
                                                     out_.type == nvinfer1::DataType::kHALF);
    if (!ok_type) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + printable(out_.name) + "' has an unexpected data type for " +
                                             info_.output);
    }
    out_.count = static_cast<size_t>(h * w) * (rank == 4 ? static_cast<size_t>(info_.num_classes) : 1);
  }

  static nvinfer1::Dims dims_of(std::initializer_list<int64_t> values) {
    nvinfer1::Dims d{};
    d.nbDims = static_cast<int32_t>(values.size());
    int k = 0;
    for (int64_t v : values) d.d[k++] = v;
    return d;
  }

  // base.py _camera_signature: a camera-native engine's tensors, named and
  // sized by its camera, all uint8 but float32 metres of depth.
  void plan_camera(const std::string& path) {
    const int64_t h = info_.camera.height, w = info_.camera.width;
    const bool uint16 = info_.camera.depth_dtype == "uint16";
    rgb_ = {"rgb", nvinfer1::DataType::kUINT8, dims_of({1, h, w, 3})};
    depth_ = {"depth", uint16 ? nvinfer1::DataType::kUINT8 : nvinfer1::DataType::kFLOAT,
              uint16 ? dims_of({1, h, w, 2}) : dims_of({1, h, w})};
    out_ = {"labels", nvinfer1::DataType::kUINT8, dims_of({1, h, w})};
    conf_ = {"confidence", nvinfer1::DataType::kUINT8, dims_of({1, h, w})};
    int32_t found = 0;
    for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) {
      const std::string name = engine_->getIOTensorName(i);
      Tensor* t = name == "rgb" ? &rgb_ : name == "depth" ? &depth_ : name == "labels" ? &out_ :
                  name == "confidence" ? &conf_ : nullptr;
      const bool input = engine_->getTensorIOMode(name.c_str()) == nvinfer1::TensorIOMode::kINPUT;
      if (!t || input != (t == &rgb_ || t == &depth_)) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + " is not a camera-native acnet engine: it has the " +
                                               (input ? "input" : "output") + " '" + name +
                                               "' (expected inputs rgb, depth and outputs labels, confidence)");
      }
      ++found;
      const nvinfer1::Dims d = engine_->getTensorShape(name.c_str());
      bool fits = d.nbDims == t->dims.nbDims && (d.d[0] == 1 || d.d[0] == -1);
      for (int k = 1; fits && k < d.nbDims; ++k) fits = d.d[k] == t->dims.d[k];
      if (!fits) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": '" + name + "' has shape " + dims_text(d) +
                                               " but its metadata's camera says " + dims_text(t->dims) +
                                               (t == &depth_ && uint16 ? " (uint16 depth as its bytes)" : ""));
      }
      if (engine_->getTensorDataType(name.c_str()) != t->type) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": '" + name + "' has another data type than a camera-native "
                                               "model with " + info_.camera.depth_dtype + " depth has there");
      }
      t->count = 1;
      for (int k = 0; k < t->dims.nbDims; ++k) t->count *= static_cast<size_t>(t->dims.d[k]);
    }
    if (found != 4) fail(ACNET_ERROR_INVALID_ARTIFACT, path + " lacks some of rgb, depth, labels, confidence");
  }

  // Fix the input shapes, check the resulting output shape, allocate and
  // bind the buffers once.
  void bind(const std::string& path) {
    const int64_t h = info_.input_height, w = info_.input_width;
    if (info_.camera_native) {
      bind_camera(path);
      return;
    }
    for (Tensor* t : {&rgb_, &depth_}) {
      nvinfer1::Dims d{};
      d.nbDims = 4;
      d.d[0] = 1;
      d.d[1] = t == &rgb_ ? 3 : 1;
      d.d[2] = h;
      d.d[3] = w;
      if (!context_->setInputShape(t->name.c_str(), d)) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + " does not accept '" + printable(t->name) + "' of shape " + dims_text(d) +
                                               logger_.last());
      }
    }
    const nvinfer1::Dims o = context_->getTensorShape(out_.name.c_str());
    size_t n = 1;
    bool overflow = false;  // an engine's dimensions are untrusted too: no wrapped product may match
    for (int k = 0; k < o.nbDims; ++k) {
      const size_t d = o.d[k] < 0 ? 0 : static_cast<size_t>(o.d[k]);
      overflow = overflow || (d != 0 && n > SIZE_MAX / d);
      n *= d;
    }
    if (overflow || n != out_.count) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + printable(out_.name) + "' has shape " + dims_text(o) +
                                             " for a single frame, which does not match its metadata");
    }
    cuda_check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    for (Tensor* t : {&rgb_, &depth_, &out_}) {
      const size_t bytes = t->count * element_size(t->type);
      cuda_check(cudaMalloc(&t->device, bytes), "cudaMalloc");
      cuda_check(cudaMallocHost(&t->host, bytes), "cudaMallocHost");
      if (!context_->setTensorAddress(t->name.c_str(), t->device)) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, "TensorRT refused the buffer of '" + printable(t->name) + "'" + logger_.last());
      }
    }
  }

  void bind_camera(const std::string& path) {
    for (Tensor* t : {&rgb_, &depth_}) {
      if (!context_->setInputShape(t->name.c_str(), t->dims)) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + " does not accept '" + t->name + "' of shape " + dims_text(t->dims) +
                                               logger_.last());
      }
    }
    for (Tensor* t : {&out_, &conf_}) {
      const nvinfer1::Dims o = context_->getTensorShape(t->name.c_str());
      size_t n = 1;
      for (int k = 0; k < o.nbDims; ++k) n *= o.d[k] < 0 ? 0 : static_cast<size_t>(o.d[k]);
      if (n != t->count) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + t->name + "' has shape " + dims_text(o) +
                                               " for a single frame, which does not match its metadata");
      }
    }
    cuda_check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    for (Tensor* t : {&rgb_, &depth_, &out_, &conf_}) {
      const size_t bytes = t->count * element_size(t->type);
      cuda_check(cudaMalloc(&t->device, bytes), "cudaMalloc");
      cuda_check(cudaMallocHost(&t->host, bytes), "cudaMallocHost");
      if (!context_->setTensorAddress(t->name.c_str(), t->device)) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, "TensorRT refused the buffer of '" + t->name + "'" + logger_.last());
      }
    }
  }

  // The caller's bytes to the device through the pinned staging buffer (an asynchronous DMA copy).
  void upload_bytes(Tensor& t, const void* data) {
    const size_t bytes = t.count * element_size(t.type);
    std::memcpy(t.host, data, bytes);
    cuda_check(cudaMemcpyAsync(t.device, t.host, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
  }

  void upload(Tensor& t, const float* data) {
    if (t.type == nvinfer1::DataType::kHALF) {
      __half* h = static_cast<__half*>(t.host);
      for (size_t i = 0; i < t.count; ++i) h[i] = __float2half_rn(data[i]);
    } else {
      std::memcpy(t.host, data, t.count * sizeof(float));
    }
    cuda_check(cudaMemcpyAsync(t.device, t.host, t.count * element_size(t.type), cudaMemcpyHostToDevice, stream_),
               "cudaMemcpyAsync");
  }
};

}  // namespace

std::unique_ptr<Backend> open_tensorrt(const std::string& path, const Device& device) {
  return std::make_unique<TensorRTBackend>(path, device);
}

}  // namespace acnet
