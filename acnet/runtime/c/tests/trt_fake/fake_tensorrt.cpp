// A fake libnvinfer for testing and fuzzing the C library's TensorRT backend
// without a GPU. It is built against NVIDIA's real TensorRT 10 headers: the
// API classes (IRuntime, ICudaEngine, IExecutionContext) are the real ones,
// and this file implements their hidden apiv:: interfaces as TensorRT's
// library does, keeping TensorRT's documented answers for unknown names
// (Dims{-1}, TensorIOMode::kNONE, false, nullptr).
//
// An "engine" is text (fake_engine.md describes it):
//
//   acnet-fake-tensorrt 1
//   input rgb float 1,3,64,96
//   input depth float -1,1,-1,-1 min 1,1,8,8 max 4,1,512,512
//   output logits float -1,2,-1,-1
//
// Anything else fails to deserialize with an error logged through the
// ILogger, as TensorRT does for a corrupt or foreign engine. Output
// dimensions given as -1 follow the first input: batch from its axis 0,
// the last two axes from its height and width.
#include <NvInfer.h>  // NvInferRuntime.h and HardwareCompatibilityLevel

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace nvinfer1;

struct TensorDesc {
  std::string name;
  TensorIOMode mode = TensorIOMode::kNONE;
  DataType type = DataType::kFLOAT;
  Dims dims{};
  Dims min{}, max{};  // inputs' optimisation profile
};

constexpr int kMaxTensors = 16;
constexpr int64_t kMaxDim = 1 << 20;

Dims no_dims() {
  Dims d{};
  d.nbDims = -1;
  return d;
}

bool parse_dims(std::string_view text, Dims& out) {
  out = Dims{};
  out.nbDims = 0;
  while (!text.empty()) {
    if (out.nbDims == Dims::MAX_DIMS) return false;
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    if (item.empty() || item.size() > 8) return false;
    bool negative = item[0] == '-';
    if (negative) item.remove_prefix(1);
    if (item.empty()) return false;
    int64_t v = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    if (negative) v = -v;
    if (v < -1 || v > kMaxDim) return false;
    out.d[out.nbDims++] = v;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return false;
  }
  return true;
}

bool parse_type(std::string_view t, DataType& out) {
  static const std::pair<const char*, DataType> types[] = {
      {"float", DataType::kFLOAT}, {"half", DataType::kHALF},   {"int8", DataType::kINT8},
      {"int32", DataType::kINT32}, {"bool", DataType::kBOOL},   {"uint8", DataType::kUINT8},
      {"bf16", DataType::kBF16},   {"int64", DataType::kINT64}};
  for (const auto& [name, type] : types) {
    if (t == name) {
      out = type;
      return true;
    }
  }
  return false;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    const size_t end = line.find(' ');
    out.push_back(line.substr(0, end));
    if (end == std::string_view::npos) break;
    line.remove_prefix(end);
  }
  return out;
}

// nullptr and a reason when `blob` is not a fake engine.
std::unique_ptr<std::vector<TensorDesc>> parse_engine(std::string_view blob, std::string& why) {
  auto tensors = std::make_unique<std::vector<TensorDesc>>();
  bool header = false;
  while (!blob.empty()) {
    const size_t nl = blob.find('\n');
    std::string_view line = blob.substr(0, nl);
    blob.remove_prefix(nl == std::string_view::npos ? blob.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto w = words(line);
    if (w.empty()) continue;
    if (!header) {
      if (w.size() != 2 || w[0] != "acnet-fake-tensorrt" || w[1] != "1") {
        why = "Serialization assertion failed: magic tag does not match";
        return nullptr;
      }
      header = true;
      continue;
    }
    if (w[0] == "pad") break;  // the rest pads the file to a size
    TensorDesc t;
    if ((w[0] != "input" && w[0] != "output") || (w.size() != 4 && w.size() != 8)) {
      why = "corrupt engine: bad tensor line";
      return nullptr;
    }
    t.mode = w[0] == "input" ? TensorIOMode::kINPUT : TensorIOMode::kOUTPUT;
    t.name = std::string(w[1]);
    if (!parse_type(w[2], t.type) || !parse_dims(w[3], t.dims)) {
      why = "corrupt engine: bad type or dimensions of " + t.name;
      return nullptr;
    }
    t.min = t.max = t.dims;
    if (w.size() == 8) {
      if (t.mode != TensorIOMode::kINPUT || w[4] != "min" || w[6] != "max" || !parse_dims(w[5], t.min) ||
          !parse_dims(w[7], t.max) || t.min.nbDims != t.dims.nbDims || t.max.nbDims != t.dims.nbDims) {
        why = "corrupt engine: bad profile of " + t.name;
        return nullptr;
      }
    }
    for (int k = 0; k < t.dims.nbDims; ++k) {
      if (t.min.d[k] < 0 || t.max.d[k] < t.min.d[k] ||
          (t.dims.d[k] >= 0 && (t.min.d[k] != t.dims.d[k] || t.max.d[k] != t.dims.d[k]))) {
        if (t.mode == TensorIOMode::kINPUT) {
          why = "corrupt engine: profile of " + t.name + " does not fit its dimensions";
          return nullptr;
        }
      }
    }
    for (const TensorDesc& other : *tensors) {
      if (other.name == t.name) {
        why = "corrupt engine: two tensors named " + t.name;
        return nullptr;
      }
    }
    if (tensors->size() == kMaxTensors) {
      why = "corrupt engine: too many tensors";
      return nullptr;
    }
    tensors->push_back(std::move(t));
  }
  if (!header) {
    why = "Serialization assertion failed: empty engine";
    return nullptr;
  }
  return tensors;
}

const TensorDesc* find(const std::vector<TensorDesc>& tensors, char const* name) {
  if (!name) return nullptr;
  for (const TensorDesc& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

size_t type_size(DataType t) {
  switch (t) {
    case DataType::kFLOAT: case DataType::kINT32: return 4;
    case DataType::kHALF: case DataType::kBF16: return 2;
    case DataType::kINT64: return 8;
    default: return 1;
  }
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal
      int e = -1;
      uint32_t m = man;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((m & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t float_to_half(float f) {  // truncating; the fake's outputs need no rounding
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const int exp = static_cast<int>((bits >> 23) & 0xFF) - 127 + 15;
  if (((bits >> 23) & 0xFF) == 0xFF) return sign | 0x7C00 | ((bits & 0x7FFFFF) ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7C00;
  if (exp <= 0) return sign;
  return static_cast<uint16_t>(sign | (exp << 10) | ((bits >> 13) & 0x3FF));
}

class FakeEngine;

// ---------------------------------------------------------------------------- execution context

class ContextImpl final : public apiv::VExecutionContext {
 public:
  ContextImpl(IExecutionContext* owner, const FakeEngine& engine);

  IExecutionContext* getPImpl() noexcept override { return owner_; }
  void setDebugSync(bool) noexcept override {}
  bool getDebugSync() const noexcept override { return false; }
  void setProfiler(IProfiler*) noexcept override {}
  IProfiler* getProfiler() const noexcept override { return nullptr; }
  ICudaEngine const& getEngine() const noexcept override;
  void setName(char const*) noexcept override {}
  char const* getName() const noexcept override { return ""; }
  void setDeviceMemory(void*) noexcept override {}
  int32_t getOptimizationProfile() const noexcept override { return 0; }
  bool allInputDimensionsSpecified() const noexcept override { return all_shapes_set(); }
  bool allInputShapesSpecified() const noexcept override { return true; }
  void setErrorRecorder(IErrorRecorder*) noexcept override {}
  IErrorRecorder* getErrorRecorder() const noexcept override { return nullptr; }
  bool executeV2(void* const*) noexcept override { return false; }
  bool setOptimizationProfileAsync(int32_t index, cudaStream_t) noexcept override { return index == 0; }
  void setEnqueueEmitsProfile(bool) noexcept override {}
  bool getEnqueueEmitsProfile() const noexcept override { return false; }
  bool reportToProfiler() const noexcept override { return false; }
  bool setInputShape(char const* tensorName, Dims const& dims) noexcept override;
  Dims getTensorShape(char const* tensorName) const noexcept override;
  Dims getTensorStrides(char const*) const noexcept override { return no_dims(); }
  bool setTensorAddress(char const* tensorName, void* data) noexcept override;
  void const* getTensorAddress(char const* tensorName) const noexcept override;
  bool setInputTensorAddress(char const* tensorName, void const* data) noexcept override {
    return setTensorAddress(tensorName, const_cast<void*>(data));
  }
  bool setOutputTensorAddress(char const* tensorName, void* data) noexcept override {
    return setTensorAddress(tensorName, data);
  }
  int32_t inferShapes(int32_t, char const**) noexcept override { return 0; }
  bool setInputConsumedEvent(cudaEvent_t) noexcept override { return true; }
  cudaEvent_t getInputConsumedEvent() const noexcept override { return nullptr; }
  void* getOutputTensorAddress(char const* tensorName) const noexcept override {
    return const_cast<void*>(getTensorAddress(tensorName));
  }
  bool setOutputAllocator(char const*, IOutputAllocator*) noexcept override { return false; }
  IOutputAllocator* getOutputAllocator(char const*) noexcept override { return nullptr; }
  int64_t getMaxOutputSize(char const*) const noexcept override { return -1; }
  bool setTemporaryStorageAllocator(IGpuAllocator*) noexcept override { return false; }
  IGpuAllocator* getTemporaryStorageAllocator() const noexcept override { return nullptr; }
  bool enqueueV3(cudaStream_t stream) noexcept override;
  void setPersistentCacheLimit(size_t) noexcept override {}
  size_t getPersistentCacheLimit() const noexcept override { return 0; }
  bool setNvtxVerbosity(ProfilingVerbosity) noexcept override { return false; }
  ProfilingVerbosity getNvtxVerbosity() const noexcept override { return ProfilingVerbosity::kLAYER_NAMES_ONLY; }
  void setAuxStreams(cudaStream_t*, int32_t) noexcept override {}
  bool setDebugListener(IDebugListener*) noexcept override { return false; }
  IDebugListener* getDebugListener() noexcept override { return nullptr; }
  bool setTensorDebugState(char const*, bool) noexcept override { return false; }
  bool getDebugState(char const*) const noexcept override { return false; }
  bool setAllTensorsDebugState(bool) noexcept override { return false; }
  size_t updateDeviceMemorySizeForShapes() noexcept override { return 0; }
  void setDeviceMemoryV2(void*, int64_t) noexcept override {}
  IRuntimeConfig* getRuntimeConfig() const noexcept override { return nullptr; }
  bool setUnfusedTensorsDebugState(bool) noexcept override { return false; }
  bool getUnfusedTensorsDebugState() const noexcept override { return false; }
  bool setCommunicator(void*) noexcept override { return false; }

 private:
  IExecutionContext* owner_;
  const FakeEngine& engine_;
  std::vector<Dims> shapes_;       // set input shapes (nbDims -1 until set)
  std::vector<void*> addresses_;   // per tensor

  bool all_shapes_set() const;
};

class FakeContext final : public IExecutionContext {
 public:
  explicit FakeContext(const FakeEngine& engine) : impl_(this, engine) { mImpl = &impl_; }

 private:
  ContextImpl impl_;
};

// ---------------------------------------------------------------------------- engine

class EngineImpl final : public apiv::VCudaEngine {
 public:
  EngineImpl(ICudaEngine* owner, std::unique_ptr<std::vector<TensorDesc>> tensors)
      : owner_(owner), tensors_(std::move(tensors)) {}

  const std::vector<TensorDesc>& tensors() const { return *tensors_; }

  ICudaEngine* getPImpl() noexcept override { return owner_; }
  int32_t getNbLayers() const noexcept override { return 1; }
  IHostMemory* serialize() const noexcept override { return nullptr; }
  IExecutionContext* createExecutionContext(ExecutionContextAllocationStrategy) noexcept override;
  IExecutionContext* createExecutionContextWithoutDeviceMemory() noexcept override { return nullptr; }
  size_t getDeviceMemorySize() const noexcept override { return 0; }
  bool isRefittable() const noexcept override { return false; }
  char const* getName() const noexcept override { return "acnet-fake-engine"; }
  int32_t getNbOptimizationProfiles() const noexcept override { return 1; }
  int32_t const* getProfileTensorValues(char const*, int32_t, OptProfileSelector) const noexcept override {
    return nullptr;
  }
  EngineCapability getEngineCapability() const noexcept override { return EngineCapability::kSTANDARD; }
  void setErrorRecorder(IErrorRecorder*) noexcept override {}
  IErrorRecorder* getErrorRecorder() const noexcept override { return nullptr; }
  bool hasImplicitBatchDimension() const noexcept override { return false; }
  TacticSources getTacticSources() const noexcept override { return 0; }
  ProfilingVerbosity getProfilingVerbosity() const noexcept override { return ProfilingVerbosity::kLAYER_NAMES_ONLY; }
  IEngineInspector* createEngineInspector() const noexcept override { return nullptr; }
  Dims getTensorShape(char const* tensorName) const noexcept override {
    const TensorDesc* t = find(*tensors_, tensorName);
    return t ? t->dims : no_dims();
  }
  DataType getTensorDataType(char const* tensorName) const noexcept override {
    const TensorDesc* t = find(*tensors_, tensorName);
    return t ? t->type : DataType::kFLOAT;
  }
  TensorLocation getTensorLocation(char const*) const noexcept override { return TensorLocation::kDEVICE; }
  bool isShapeInferenceIO(char const*) const noexcept override { return false; }
  TensorIOMode getTensorIOMode(char const* tensorName) const noexcept override {
    const TensorDesc* t = find(*tensors_, tensorName);
    return t ? t->mode : TensorIOMode::kNONE;
  }
  int32_t getTensorBytesPerComponent(char const* tensorName) const noexcept override {
    const TensorDesc* t = find(*tensors_, tensorName);
    return t ? static_cast<int32_t>(type_size(t->type)) : -1;
  }
  int32_t getTensorComponentsPerElement(char const* tensorName) const noexcept override {
    return find(*tensors_, tensorName) ? 1 : -1;
  }
  TensorFormat getTensorFormat(char const*) const noexcept override { return TensorFormat::kLINEAR; }
  char const* getTensorFormatDesc(char const*) const noexcept override { return "row major linear"; }
  int32_t getTensorVectorizedDim(char const*) const noexcept override { return -1; }
  Dims getProfileShape(char const* tensorName, int32_t profileIndex, OptProfileSelector select) const noexcept override {
    const TensorDesc* t = find(*tensors_, tensorName);
    if (!t || t->mode != TensorIOMode::kINPUT || profileIndex != 0) return no_dims();
    return select == OptProfileSelector::kMIN ? t->min : t->max;
  }
  int32_t getNbIOTensors() const noexcept override { return static_cast<int32_t>(tensors_->size()); }
  char const* getIOTensorName(int32_t index) const noexcept override {
    return index >= 0 && index < getNbIOTensors() ? (*tensors_)[static_cast<size_t>(index)].name.c_str() : nullptr;
  }
  HardwareCompatibilityLevel getHardwareCompatibilityLevel() const noexcept override {
    return HardwareCompatibilityLevel::kNONE;
  }
  int32_t getNbAuxStreams() const noexcept override { return 0; }
  int32_t getTensorBytesPerComponentV2(char const* n, int32_t) const noexcept override {
    return getTensorBytesPerComponent(n);
  }
  int32_t getTensorComponentsPerElementV2(char const* n, int32_t) const noexcept override {
    return getTensorComponentsPerElement(n);
  }
  TensorFormat getTensorFormatV2(char const* n, int32_t) const noexcept override { return getTensorFormat(n); }
  char const* getTensorFormatDescV2(char const* n, int32_t) const noexcept override { return getTensorFormatDesc(n); }
  int32_t getTensorVectorizedDimV2(char const* n, int32_t) const noexcept override { return getTensorVectorizedDim(n); }
  ISerializationConfig* createSerializationConfig() noexcept override { return nullptr; }
  IHostMemory* serializeWithConfig(ISerializationConfig&) const noexcept override { return nullptr; }
  size_t getDeviceMemorySizeForProfile(int32_t) const noexcept override { return 0; }
  IRefitter* createRefitter(ILogger&) noexcept override { return nullptr; }
  bool setWeightStreamingBudget(int64_t) noexcept override { return false; }
  int64_t getWeightStreamingBudget() const noexcept override { return 0; }
  int64_t getMinimumWeightStreamingBudget() const noexcept override { return 0; }
  int64_t getStreamableWeightsSize() const noexcept override { return 0; }
  bool isDebugTensor(char const*) const noexcept override { return false; }
  bool setWeightStreamingBudgetV2(int64_t) noexcept override { return false; }
  int64_t getWeightStreamingBudgetV2() const noexcept override { return 0; }
  int64_t getWeightStreamingAutomaticBudget() const noexcept override { return 0; }
  int64_t getWeightStreamingScratchMemorySize() const noexcept override { return 0; }
  int64_t getDeviceMemorySizeV2() const noexcept override { return 0; }
  int64_t getDeviceMemorySizeForProfileV2(int32_t) const noexcept override { return 0; }
  int64_t const* getProfileTensorValuesV2(char const*, int32_t, OptProfileSelector) const noexcept override {
    return nullptr;
  }
  IExecutionContext* createExecutionContextWithRuntimeConfig(IRuntimeConfig*) noexcept override { return nullptr; }
  IRuntimeConfig* createRuntimeConfig() noexcept override { return nullptr; }
  int64_t getEngineStat(EngineStat) const noexcept override { return 0; }
  char const* getAliasedInputTensor(char const*) const noexcept override { return nullptr; }

 private:
  ICudaEngine* owner_;
  std::unique_ptr<std::vector<TensorDesc>> tensors_;
};

class FakeEngine final : public ICudaEngine {
 public:
  explicit FakeEngine(std::unique_ptr<std::vector<TensorDesc>> tensors) : impl_(this, std::move(tensors)) {
    mImpl = &impl_;
  }
  const std::vector<TensorDesc>& tensors() const { return impl_.tensors(); }

 private:
  EngineImpl impl_;
};

IExecutionContext* EngineImpl::createExecutionContext(ExecutionContextAllocationStrategy) noexcept {
  try {
    return new FakeContext(*static_cast<FakeEngine*>(owner_));
  } catch (...) {
    return nullptr;
  }
}

ContextImpl::ContextImpl(IExecutionContext* owner, const FakeEngine& engine)
    : owner_(owner), engine_(engine), shapes_(engine.tensors().size(), no_dims()),
      addresses_(engine.tensors().size(), nullptr) {
  // Static inputs have their shape from the start, as in TensorRT.
  for (size_t i = 0; i < engine.tensors().size(); ++i) {
    const TensorDesc& t = engine.tensors()[i];
    bool dynamic = false;
    for (int k = 0; k < t.dims.nbDims; ++k) dynamic = dynamic || t.dims.d[k] < 0;
    if (t.mode == TensorIOMode::kINPUT && !dynamic) shapes_[i] = t.dims;
  }
}

ICudaEngine const& ContextImpl::getEngine() const noexcept { return engine_; }

bool ContextImpl::all_shapes_set() const {
  for (size_t i = 0; i < shapes_.size(); ++i) {
    if (engine_.tensors()[i].mode == TensorIOMode::kINPUT && shapes_[i].nbDims < 0) return false;
  }
  return true;
}

bool ContextImpl::setInputShape(char const* tensorName, Dims const& dims) noexcept {
  const TensorDesc* t = find(engine_.tensors(), tensorName);
  if (!t || t->mode != TensorIOMode::kINPUT || dims.nbDims != t->dims.nbDims) return false;
  for (int k = 0; k < dims.nbDims; ++k) {
    if (dims.d[k] < t->min.d[k] || dims.d[k] > t->max.d[k]) return false;
  }
  shapes_[static_cast<size_t>(t - engine_.tensors().data())] = dims;
  return true;
}

Dims ContextImpl::getTensorShape(char const* tensorName) const noexcept {
  const TensorDesc* t = find(engine_.tensors(), tensorName);
  if (!t) return no_dims();
  const size_t i = static_cast<size_t>(t - engine_.tensors().data());
  if (t->mode == TensorIOMode::kINPUT) return shapes_[i].nbDims < 0 ? t->dims : shapes_[i];
  // An output's -1 dimensions follow the first input's batch, height and width.
  const TensorDesc* first = nullptr;
  for (const TensorDesc& other : engine_.tensors()) {
    if (other.mode == TensorIOMode::kINPUT) {
      first = &other;
      break;
    }
  }
  Dims out = t->dims;
  const Dims* in = first ? &shapes_[static_cast<size_t>(first - engine_.tensors().data())] : nullptr;
  for (int k = 0; k < out.nbDims; ++k) {
    if (out.d[k] >= 0) continue;
    int from = k == 0 ? 0 : k == out.nbDims - 2 ? 2 : k == out.nbDims - 1 ? 3 : -1;
    out.d[k] = in && from >= 0 && in->nbDims == 4 ? in->d[from] : -1;
  }
  return out;
}

bool ContextImpl::setTensorAddress(char const* tensorName, void* data) noexcept {
  const TensorDesc* t = find(engine_.tensors(), tensorName);
  if (!t || !data) return false;
  addresses_[static_cast<size_t>(t - engine_.tensors().data())] = data;
  return true;
}

void const* ContextImpl::getTensorAddress(char const* tensorName) const noexcept {
  const TensorDesc* t = find(engine_.tensors(), tensorName);
  return t ? addresses_[static_cast<size_t>(t - engine_.tensors().data())] : nullptr;
}

// "Runs" the engine: each output element is a function of the first input's
// values at the same pixel (so labels follow the image), written in the
// output's data type. Device memory is host memory (fake_cuda.cpp).
bool ContextImpl::enqueueV3(cudaStream_t) noexcept {
  if (!all_shapes_set()) return false;
  const std::vector<TensorDesc>& tensors = engine_.tensors();
  const TensorDesc* first = nullptr;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!addresses_[i]) return false;
    if (!first && tensors[i].mode == TensorIOMode::kINPUT) first = &tensors[i];
  }
  if (!first) return false;
  const size_t fi = static_cast<size_t>(first - tensors.data());
  const Dims in = shapes_[fi];
  size_t in_count = 1;
  for (int k = 0; k < in.nbDims; ++k) in_count *= static_cast<size_t>(in.d[k]);
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].mode != TensorIOMode::kOUTPUT) continue;
    const Dims o = getTensorShape(tensors[i].name.c_str());
    size_t count = 1;
    for (int k = 0; k < o.nbDims; ++k) {
      if (o.d[k] < 0) return false;
      count *= static_cast<size_t>(o.d[k]);
    }
    const size_t plane = o.nbDims >= 2 ? static_cast<size_t>(o.d[o.nbDims - 1] * o.d[o.nbDims - 2]) : 1;
    for (size_t e = 0; e < count; ++e) {
      float x = 0.0f;
      const bool readable = first->type == DataType::kFLOAT || first->type == DataType::kHALF;
      if (readable && in_count > 0 && plane > 0) {
        const size_t p = e % plane;
        const size_t channel = e / plane;
        const size_t src = p < in_count ? p : 0;
        x = first->type == DataType::kHALF
                ? half_to_float(static_cast<const uint16_t*>(addresses_[fi])[src])
                : static_cast<const float*>(addresses_[fi])[src];
        x = x * static_cast<float>(channel % 7) - static_cast<float>(channel);
      }
      switch (tensors[i].type) {
        case DataType::kFLOAT: static_cast<float*>(addresses_[i])[e] = x; break;
        case DataType::kHALF: static_cast<uint16_t*>(addresses_[i])[e] = float_to_half(x); break;
        case DataType::kINT32: static_cast<int32_t*>(addresses_[i])[e] = 1 + static_cast<int32_t>(e % 2); break;
        default: std::memset(static_cast<char*>(addresses_[i]) + e * type_size(tensors[i].type), 0,
                             type_size(tensors[i].type));
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------------------- runtime

class RuntimeImpl final : public apiv::VRuntime {
 public:
  RuntimeImpl(IRuntime* owner, ILogger* logger) : owner_(owner), logger_(logger) {}

  IRuntime* getPImpl() noexcept override { return owner_; }
  ICudaEngine* deserializeCudaEngine(void const* blob, std::size_t size) noexcept override {
    if (!blob || size == 0) {
      log("Serialization: null or empty blob");
      return nullptr;
    }
    try {
      std::string why;
      auto tensors = parse_engine(std::string_view(static_cast<const char*>(blob), size), why);
      if (!tensors) {
        log(why);
        return nullptr;
      }
      return new FakeEngine(std::move(tensors));
    } catch (...) {
      return nullptr;
    }
  }
  ICudaEngine* deserializeCudaEngine(IStreamReader&) noexcept override { return nullptr; }
  void setDLACore(int32_t) noexcept override {}
  int32_t getDLACore() const noexcept override { return -1; }
  int32_t getNbDLACores() const noexcept override { return 0; }
  void setGpuAllocator(IGpuAllocator*) noexcept override {}
  void setErrorRecorder(IErrorRecorder*) noexcept override {}
  IErrorRecorder* getErrorRecorder() const noexcept override { return nullptr; }
  ILogger* getLogger() const noexcept override { return logger_; }
  bool setMaxThreads(int32_t) noexcept override { return true; }
  int32_t getMaxThreads() const noexcept override { return 1; }
  void setTemporaryDirectory(char const*) noexcept override {}
  char const* getTemporaryDirectory() const noexcept override { return nullptr; }
  void setTempfileControlFlags(TempfileControlFlags) noexcept override {}
  TempfileControlFlags getTempfileControlFlags() const noexcept override { return 0; }
  IPluginRegistry& getPluginRegistry() noexcept override { std::abort(); }  // no plugins in the fake
  void setPluginRegistryParent(IPluginRegistry*) noexcept override {}
  IRuntime* loadRuntime(char const*) noexcept override { return nullptr; }
  void setEngineHostCodeAllowed(bool) noexcept override {}
  bool getEngineHostCodeAllowed() const noexcept override { return false; }
  ICudaEngine* deserializeCudaEngineV2(IStreamReaderV2&) noexcept override { return nullptr; }

 private:
  IRuntime* owner_;
  ILogger* logger_;

  void log(const std::string& message) const {
    if (logger_) logger_->log(ILogger::Severity::kERROR, message.c_str());
  }
};

class FakeRuntime final : public IRuntime {
 public:
  explicit FakeRuntime(ILogger* logger) : impl_(this, logger) { mImpl = &impl_; }

 private:
  RuntimeImpl impl_;
};

}  // namespace

extern "C" TENSORRTAPI void* createInferRuntime_INTERNAL(void* logger, int32_t /*version*/) noexcept {
  try {
    return static_cast<IRuntime*>(new FakeRuntime(static_cast<ILogger*>(logger)));
  } catch (...) {
    return nullptr;
  }
}

// The version of the headers it is built against, as the real library reports its own.
extern "C" TENSORRTAPI int32_t getInferLibVersion() noexcept { return NV_TENSORRT_VERSION; }
