// An XLA FFI handler for batched FFTs on CPU through Intel MKL's DFTI, spread over XLA's
// intra-op thread pool.
//
// parallax.kernels.fft compiles this file on first use and registers the handler as the CPU
// custom call "parallax_mkl_fft". It computes what XLA's FFT op computes: over the trailing
// `rank` axes of the operand, `kind` 0 is the complex forward transform, 1 the complex inverse
// (scaled by 1/N), 2 the real-to-complex forward transform (the last axis keeps n/2 + 1 modes)
// and 3 its complex-to-real inverse (scaled by 1/N); leading axes are a batch.
//
// MKL runs sequentially here (linked against mkl_sequential). The batch is cut into chunks that
// run over XLA's pool through parallax::Parallel (kernels/_pool.h), so the handler uses every
// core even when it runs inside a loop body on a pool thread.

#include <atomic>
#include <complex>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "mkl_dfti.h"
#include "_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// The values of jax.lax.FftType, which the Python side passes as `kind`.
enum Kind : int64_t { kFft = 0, kIfft = 1, kRfft = 2, kIrfft = 3 };

// Chunks smaller than this many real elements are not worth a task on another thread.
constexpr int64_t kMinChunkElements = 1 << 14;

struct Descriptor {
  DFTI_DESCRIPTOR_HANDLE handle = nullptr;
  ~Descriptor() {
    if (handle != nullptr) DftiFreeDescriptor(&handle);
  }
};

// One batched transform as MKL sees it: `howmany` transforms of shape `lengths` (the real-space
// shape for a real domain), element strides in the real-space (forward) and spectral (backward)
// layouts, `distance` elements apart, the backward transform scaled by `scale`.
struct Layout {
  bool double_precision, real;
  std::vector<MKL_LONG> lengths, fwd_strides, bwd_strides;
  MKL_LONG howmany, fwd_distance, bwd_distance;
  double scale;
  auto Key() const {
    return std::tie(double_precision, real, lengths, fwd_strides, bwd_strides, howmany,
                    fwd_distance, bwd_distance, scale);
  }
  bool operator<(const Layout& other) const { return Key() < other.Key(); }
};

std::string DftiMessage(MKL_LONG status) {
  return std::string("MKL DFTI: ") + DftiErrorMessage(status);
}

// Row-major element strides of `shape`, with the leading zero offset MKL expects.
std::vector<MKL_LONG> Strides(const std::vector<MKL_LONG>& shape, MKL_LONG unit = 1) {
  std::vector<MKL_LONG> strides(shape.size() + 1, 0);
  MKL_LONG size = unit;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i + 1] = size;
    size *= shape[i];
  }
  return strides;
}

MKL_LONG Product(const std::vector<MKL_LONG>& shape) {
  MKL_LONG size = 1;
  for (MKL_LONG n : shape) size *= n;
  return size;
}

// A committed descriptor for `layout`, made once. MKL allows one committed descriptor to
// compute from several threads at once.
ffi::ErrorOr<std::shared_ptr<Descriptor>> Plan(const Layout& layout) {
  static std::mutex mutex;
  static std::map<Layout, std::shared_ptr<Descriptor>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(layout); it != cache.end()) return it->second;

  auto plan = std::make_shared<Descriptor>();
  const auto& n = layout.lengths;
  const DFTI_CONFIG_VALUE precision = layout.double_precision ? DFTI_DOUBLE : DFTI_SINGLE;
  const DFTI_CONFIG_VALUE domain = layout.real ? DFTI_REAL : DFTI_COMPLEX;
  MKL_LONG status = n.size() == 1
                        ? DftiCreateDescriptor(&plan->handle, precision, domain, 1, n[0])
                        : DftiCreateDescriptor(&plan->handle, precision, domain,
                                               static_cast<MKL_LONG>(n.size()), n.data());
  auto set = [&](auto... args) {
    if (status == DFTI_NO_ERROR) status = DftiSetValue(plan->handle, args...);
  };
  set(DFTI_PLACEMENT, DFTI_NOT_INPLACE);
  if (layout.real) set(DFTI_CONJUGATE_EVEN_STORAGE, DFTI_COMPLEX_COMPLEX);
  set(DFTI_FWD_STRIDES, layout.fwd_strides.data());
  set(DFTI_BWD_STRIDES, layout.bwd_strides.data());
  set(DFTI_NUMBER_OF_TRANSFORMS, layout.howmany);
  set(DFTI_FWD_DISTANCE, layout.fwd_distance);
  set(DFTI_BWD_DISTANCE, layout.bwd_distance);
  set(DFTI_THREAD_LIMIT, static_cast<MKL_LONG>(1));
  if (layout.double_precision) {
    set(DFTI_BACKWARD_SCALE, layout.scale);
  } else {
    set(DFTI_BACKWARD_SCALE, static_cast<float>(layout.scale));
  }
  if (status == DFTI_NO_ERROR) status = DftiCommitDescriptor(plan->handle);
  if (status != DFTI_NO_ERROR) return ffi::Unexpected(ffi::Error::Internal(DftiMessage(status)));
  cache.emplace(layout, plan);
  return plan;
}

// The descriptors that compute `count` transforms of kind `kind` over real-space shape `n`.
// A multi-dimensional inverse real transform is two steps, as in NumPy: the complex inverse
// over the leading axes into a scratch buffer, then the 1-D complex-to-real inverse over the
// last axis. (MKL's own multi-dimensional complex-to-real transform assumes the whole spectrum
// is Hermitian; NumPy and XLA keep the imaginary part of the leading-axes inverse out of the
// result, which differs where the input is not the transform of a real array.)
struct Steps {
  std::shared_ptr<Descriptor> first, second;  // second: the 1-D c2r step, or null
  int64_t scratch = 0;                        // complex elements of scratch per transform
};

ffi::ErrorOr<Steps> MakeSteps(bool double_precision, int64_t kind, const std::vector<MKL_LONG>& n,
                              int64_t count) {
  const MKL_LONG total = Product(n);
  const MKL_LONG last = n.back();
  std::vector<MKL_LONG> spectral(n);
  if (kind == kRfft || kind == kIrfft) spectral.back() = last / 2 + 1;
  const MKL_LONG spectral_size = Product(spectral);
  Steps steps;
  if (kind != kIrfft || n.size() == 1) {
    Layout layout{double_precision,   kind == kRfft || kind == kIrfft,
                  n,                  Strides(n),
                  Strides(spectral),  static_cast<MKL_LONG>(count),
                  total,              spectral_size,
                  1.0 / static_cast<double>(total)};
    auto plan = Plan(layout);
    if (plan.has_error()) return ffi::Unexpected(plan.error());
    steps.first = *plan;
    return steps;
  }
  // Leading axes: per batch element, `m` interleaved complex transforms of shape lead.
  const MKL_LONG m = spectral.back();
  std::vector<MKL_LONG> lead(n.begin(), n.end() - 1);
  const MKL_LONG lead_size = Product(lead);
  auto strided = Strides(lead, m);
  Layout first{double_precision, false, lead, strided, strided, m, 1, 1,
               1.0 / static_cast<double>(lead_size)};
  Layout second{double_precision,
                true,
                {last},
                {0, 1},
                {0, 1},
                static_cast<MKL_LONG>(count) * lead_size,
                last,
                m,
                1.0 / static_cast<double>(last)};
  auto a = Plan(first);
  if (a.has_error()) return ffi::Unexpected(a.error());
  auto b = Plan(second);
  if (b.has_error()) return ffi::Unexpected(b.error());
  steps.first = *a;
  steps.second = *b;
  steps.scratch = spectral_size;
  return steps;
}

// The transforms of one call: chunk i covers transforms [i * per, min((i + 1) * per, batch)).
struct Work {
  int64_t kind;
  int64_t batch, per, chunks;
  const char* in;
  char* out;
  int64_t in_step, out_step;  // bytes between consecutive transforms
  int64_t complex_bytes;
  Steps full, tail;
  std::atomic<MKL_LONG> status{DFTI_NO_ERROR};

  MKL_LONG Chunk(const Steps& steps, int64_t count, char* src, char* dst) const {
    const bool forward = kind == kFft || kind == kRfft;
    if (forward) return DftiComputeForward(steps.first->handle, src, dst);
    if (!steps.second) return DftiComputeBackward(steps.first->handle, src, dst);
    std::vector<char> scratch(count * steps.scratch * complex_bytes);
    for (int64_t j = 0; j < count; ++j) {
      char* from = src + j * in_step;
      char* to = scratch.data() + j * steps.scratch * complex_bytes;
      if (MKL_LONG s = DftiComputeBackward(steps.first->handle, from, to); s != DFTI_NO_ERROR) {
        return s;
      }
    }
    return DftiComputeBackward(steps.second->handle, scratch.data(), dst);
  }

  void Run(int64_t i) {
    const int64_t count = std::min(per, batch - i * per);
    char* src = const_cast<char*>(in + i * per * in_step);
    MKL_LONG s = Chunk(count == per ? full : tail, count, src, out + i * per * out_step);
    if (s != DFTI_NO_ERROR) status.store(s, std::memory_order_relaxed);
  }
};

int64_t ElementBytes(ffi::DataType dtype) {
  switch (dtype) {
    case ffi::DataType::F32: return 4;
    case ffi::DataType::F64: return 8;
    case ffi::DataType::C64: return 8;
    case ffi::DataType::C128: return 16;
    default: return 0;
  }
}

ffi::Error Fft(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y,
               int64_t rank, int64_t kind) {
  const auto in_dims = x.dimensions();
  const auto out_dims = y->dimensions();
  if (kind < kFft || kind > kIrfft) return ffi::Error::InvalidArgument("unknown FFT kind");
  if (rank < 1 || rank > 3 || static_cast<int64_t>(in_dims.size()) < rank ||
      in_dims.size() != out_dims.size()) {
    return ffi::Error::InvalidArgument("FFT rank must be 1 to 3 and at most the operand rank");
  }
  const ffi::DataType in_type = x.element_type();
  const ffi::DataType out_type = y->element_type();
  const bool double_precision = in_type == ffi::DataType::F64 || in_type == ffi::DataType::C128;
  const int64_t in_bytes = ElementBytes(in_type), out_bytes = ElementBytes(out_type);
  const bool types_ok =
      in_bytes > 0 && out_bytes > 0 &&
      (kind == kRfft ? in_type == (double_precision ? ffi::DataType::F64 : ffi::DataType::F32)
                     : in_type == (double_precision ? ffi::DataType::C128 : ffi::DataType::C64)) &&
      (kind == kIrfft ? out_type == (double_precision ? ffi::DataType::F64 : ffi::DataType::F32)
                      : out_type == (double_precision ? ffi::DataType::C128 : ffi::DataType::C64));
  if (!types_ok) return ffi::Error::InvalidArgument("FFT operand/result types do not match kind");

  const size_t lead = in_dims.size() - rank;
  // The real-space shape: the input's trailing axes, or the result's for the inverse real FFT.
  const auto& real_dims = kind == kIrfft ? out_dims : in_dims;
  std::vector<MKL_LONG> lengths(real_dims.begin() + lead, real_dims.end());
  int64_t batch = 1, in_size = 1, out_size = 1;
  for (size_t i = 0; i < lead; ++i) batch *= in_dims[i];
  for (size_t i = lead; i < in_dims.size(); ++i) {
    in_size *= in_dims[i];
    out_size *= out_dims[i];
  }
  if (batch == 0 || in_size == 0) return ffi::Error::Success();

  const int64_t real_size = Product(lengths);
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  const int64_t by_size = std::max<int64_t>(1, batch * real_size / kMinChunkElements);
  const int64_t target = std::min({batch, 2 * threads, by_size});
  const int64_t per = (batch + target - 1) / target;

  Work work;
  work.kind = kind;
  work.complex_bytes = double_precision ? 16 : 8;
  work.batch = batch;
  work.per = per;
  work.chunks = (batch + per - 1) / per;
  work.in = static_cast<const char*>(x.untyped_data());
  work.out = static_cast<char*>(y->untyped_data());
  work.in_step = in_size * in_bytes;
  work.out_step = out_size * out_bytes;
  auto full = MakeSteps(double_precision, kind, lengths, per);
  if (full.has_error()) return full.error();
  work.full = *full;
  const int64_t rest = batch % per;
  if (rest != 0) {
    auto tail = MakeSteps(double_precision, kind, lengths, rest);
    if (tail.has_error()) return tail.error();
    work.tail = *tail;
  } else {
    work.tail = work.full;
  }

  parallax::Parallel(pool, work.chunks, [&work](int64_t i) { work.Run(i); });
  if (MKL_LONG s = work.status.load(); s != DFTI_NO_ERROR) {
    return ffi::Error::Internal(DftiMessage(s));
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_fft, Fft,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("rank")
                                  .Attr<int64_t>("kind"));
