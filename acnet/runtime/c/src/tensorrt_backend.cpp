// TensorRT backend: an engine built by `acnet export trt`, checked against
// its JSON sidecar (acnet/runtime/sidecar.py) before it is deserialized, run
// with the name-based API (IExecutionContext::enqueueV3) on one CUDA stream.
// Mirrors acnet/runtime/backends/trt.py.
#include <NvInferRuntime.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "backend.h"
#include "error.h"
#include "json.h"

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

// "10.3.0.26" -> {10, 3, 0, 26}
std::vector<int> version_numbers(const std::string& text) {
  std::vector<int> out;
  std::string digits;
  for (char c : text.substr(0, text.find('+')) + ".") {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits += c;
    } else if (!digits.empty()) {
      out.push_back(std::stoi(digits));
      digits.clear();
    }
  }
  return out;
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

std::string normalised_name(const std::string& name) {
  std::istringstream words(name);
  std::string word, out;
  while (words >> word) {
    for (auto& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out += (out.empty() ? "" : " ") + word;
  }
  return out;
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
    default: return 0;
  }
}

struct Tensor {
  std::string name;
  nvinfer1::DataType type = nvinfer1::DataType::kFLOAT;
  size_t count = 0;         // elements at batch 1 and the model's input size
  void* device = nullptr;   // cudaMalloc
  void* host = nullptr;     // cudaMallocHost (pinned) staging buffer
};

// The stream and buffers, freed however construction ends.
struct CudaBuffers {
  int device = 0;
  cudaStream_t stream = nullptr;
  Tensor rgb, depth, out;

  CudaBuffers() = default;
  CudaBuffers(const CudaBuffers&) = delete;
  CudaBuffers& operator=(const CudaBuffers&) = delete;
  ~CudaBuffers() {
    cudaSetDevice(device);
    if (stream) cudaStreamSynchronize(stream);
    for (Tensor* t : {&rgb, &depth, &out}) {
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
    const json::Value sidecar = read_sidecar(path, blob.size());

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
    check_compatible(path, sidecar, prop);

    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (!runtime_) fail(ACNET_ERROR_UNSUPPORTED, "cannot create a TensorRT runtime" + logger_.last());
    engine_.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
    if (!engine_) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, "TensorRT " + runtime_trt_version() + " could not deserialize " + path +
                                             " (corrupt, or built by another TensorRT)" + logger_.last());
    }
    plan(path);
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

  static std::vector<char> read_engine(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(ACNET_ERROR_NOT_FOUND, "cannot open engine " + path);
    std::vector<char> blob((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (blob.empty()) fail(ACNET_ERROR_INVALID_ARTIFACT, "engine " + path + " is empty");
    return blob;
  }

  // sidecar.py read_sidecar: the sidecar is there, readable, carries the
  // model's metadata and describes this very engine file.
  json::Value read_sidecar(const std::string& path, size_t engine_size) {
    const std::string side = path + ".json";
    std::ifstream f(side, std::ios::binary);
    if (!f) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, "engine " + path + " has no sidecar " + side +
                                             "; build engines with `acnet export trt` (it records the TensorRT "
                                             "version, GPU and model metadata the runtime needs)");
    }
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    json::Value root;
    try {
      root = json::parse(text);
    } catch (const std::invalid_argument& e) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, "sidecar " + side + " is unreadable: " + e.what());
    }
    const std::string source = "sidecar " + side;
    if (!root.is_object()) fail(ACNET_ERROR_INVALID_ARTIFACT, source + " is not an acnet engine sidecar");
    if (const json::Value* schema = root.find("schema_version")) {
      if (!schema->is_number() || schema->as_number() > 1) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, source + " was written by a newer acnet; upgrade the acnet C library");
      }
    }
    for (const char* key : {"tensorrt_version", "gpu_name", "compute_capability"}) {
      const json::Value* v = root.find(key);
      if (!v || !v->is_string()) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, source + " is incomplete: no '" + std::string(key) + "' text field");
      }
    }
    const json::Value* meta = root.find("model_info");
    if (!meta) fail(ACNET_ERROR_INVALID_ARTIFACT, source + " is incomplete: no 'model_info' field");
    info_ = model_info_from_json(*meta, source);
    check_servable(info_, source);
    if (const json::Value* size = root.find("engine_size"); size && size->is_number() && size->as_number() > 0 &&
                                                             static_cast<size_t>(size->as_number()) != engine_size) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, source + " describes a " +
                                             std::to_string(static_cast<size_t>(size->as_number())) +
                                             "-byte engine but " + path + " has " + std::to_string(engine_size) +
                                             " bytes; the engine was replaced: rebuild both with `acnet export trt`");
    }
    return root;
  }

  // sidecar.py check_engine_compatible: this TensorRT and this GPU are the
  // ones the engine was built with.
  static void check_compatible(const std::string& path, const json::Value& sidecar, const cudaDeviceProp& prop) {
    std::vector<std::string> problems;
    const std::string built = sidecar.find("tensorrt_version")->as_string();
    const std::string here = runtime_trt_version();
    std::vector<int> a = version_numbers(built), b = version_numbers(here);
    a.resize(3, 0);
    b.resize(3, 0);
    if (!std::equal(a.begin(), a.begin() + 3, b.begin())) {
      problems.push_back("TensorRT " + built + " (this machine has " + here + ")");
    }
    const std::string cc = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    const std::string built_cc = sidecar.find("compute_capability")->as_string();
    if (built_cc != cc) problems.push_back("compute capability " + built_cc + " (this GPU has " + cc + ")");
    const std::string gpu = sidecar.find("gpu_name")->as_string();
    if (normalised_name(gpu) != normalised_name(prop.name)) {
      problems.push_back("the GPU '" + gpu + "' (this one is '" + prop.name + "')");
    }
    if (!problems.empty()) {
      std::string joined;
      for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
      fail(ACNET_ERROR_UNSUPPORTED, "engine " + path + " was built for " + joined +
                                        "; TensorRT engines run only with the TensorRT version and GPU they were "
                                        "built on: rebuild it here with `acnet export trt`");
    }
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
    for (const auto& [n, d] : inputs) described += (described.empty() ? "" : ", ") + n + dims_text(d);
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
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": input '" + t->name + "' has shape " + dims_text(d) +
                                               " but its metadata says (N, " + std::to_string(channels) + ", " +
                                               std::to_string(h) + ", " + std::to_string(w) + ")");
      }
      if (d.d[0] != 1 && d.d[0] != -1) {
        fail(ACNET_ERROR_UNSUPPORTED, path + ": input '" + t->name + "' has batch " + std::to_string(d.d[0]) +
                                          "; the C library runs one frame at a time (build the engine for batch 1)");
      }
      const bool dynamic = std::any_of(d.d, d.d + 4, [](int64_t v) { return v < 0; });
      if (dynamic) {
        const nvinfer1::Dims lo = engine_->getProfileShape(t->name.c_str(), 0, nvinfer1::OptProfileSelector::kMIN);
        const nvinfer1::Dims hi = engine_->getProfileShape(t->name.c_str(), 0, nvinfer1::OptProfileSelector::kMAX);
        const int64_t want[4] = {1, channels, h, w};
        for (int k = 0; k < 4; ++k) {
          if (lo.nbDims == 4 && hi.nbDims == 4 && (want[k] < lo.d[k] || want[k] > hi.d[k])) {
            fail(ACNET_ERROR_UNSUPPORTED, path + ": the engine's profile for '" + t->name + "' allows " +
                                              dims_text(lo) + ".." + dims_text(hi) + ", not " +
                                              "(1, " + std::to_string(channels) + ", " + std::to_string(h) + ", " +
                                              std::to_string(w) + "); rebuild the engine");
          }
        }
      }
      t->type = engine_->getTensorDataType(t->name.c_str());
      if (t->type != nvinfer1::DataType::kFLOAT && t->type != nvinfer1::DataType::kHALF) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": input '" + t->name + "' is not float32 or float16");
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
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + out_.name + "' has shape " + dims_text(o) +
                                             ", expected rank " + std::to_string(rank) + " " + info_.output);
    }
    if (rank == 4 && o.d[1] != info_.num_classes && o.d[1] != -1) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + out_.name + "' has " + std::to_string(o.d[1]) +
                                             " classes but its metadata lists " +
                                             std::to_string(info_.num_classes) + " class names");
    }
    out_.type = engine_->getTensorDataType(out_.name.c_str());
    const bool ok_type = info_.output == "labels" ? out_.type == nvinfer1::DataType::kINT32
                                                  : (out_.type == nvinfer1::DataType::kFLOAT ||
                                                     out_.type == nvinfer1::DataType::kHALF);
    if (!ok_type) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + out_.name + "' has an unexpected data type for " +
                                             info_.output);
    }
    out_.count = static_cast<size_t>(h * w) * (rank == 4 ? static_cast<size_t>(info_.num_classes) : 1);
  }

  // Fix the input shapes, check the resulting output shape, allocate and
  // bind the buffers once.
  void bind(const std::string& path) {
    const int64_t h = info_.input_height, w = info_.input_width;
    for (Tensor* t : {&rgb_, &depth_}) {
      nvinfer1::Dims d{};
      d.nbDims = 4;
      d.d[0] = 1;
      d.d[1] = t == &rgb_ ? 3 : 1;
      d.d[2] = h;
      d.d[3] = w;
      if (!context_->setInputShape(t->name.c_str(), d)) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, path + " does not accept '" + t->name + "' of shape " + dims_text(d) +
                                               logger_.last());
      }
    }
    const nvinfer1::Dims o = context_->getTensorShape(out_.name.c_str());
    size_t n = 1;
    for (int k = 0; k < o.nbDims; ++k) n *= o.d[k] < 0 ? 0 : static_cast<size_t>(o.d[k]);
    if (n != out_.count) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + ": output '" + out_.name + "' has shape " + dims_text(o) +
                                             " for a single frame, which does not match its metadata");
    }
    cuda_check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    for (Tensor* t : {&rgb_, &depth_, &out_}) {
      const size_t bytes = t->count * element_size(t->type);
      cuda_check(cudaMalloc(&t->device, bytes), "cudaMalloc");
      cuda_check(cudaMallocHost(&t->host, bytes), "cudaMallocHost");
      if (!context_->setTensorAddress(t->name.c_str(), t->device)) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, "TensorRT refused the buffer of '" + t->name + "'" + logger_.last());
      }
    }
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
