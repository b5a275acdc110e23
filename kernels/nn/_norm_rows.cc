// XLA FFI handler for layer and RMS normalisation on CPU: one task per block of rows, spread over
// XLA's intra-op thread pool, each row normalised in two passes, the second from L1.
//
// parallax.kernels.nn._norm_rows compiles this file on first use and registers
// "parallax_norm_rows" as a CPU custom call.
//
// x (..., d); scale and bias (..., d) whose leading axes are a prefix of x's (a batch under vmap:
// row r uses scale row r / (rows / scale rows)); outputs y like x and mean, rstd (...,) like x
// without its last axis. float32 and float64, accumulated in the input's precision.
//
// Per row, with `centred` (LayerNorm), the shifted moments of Chan, Golub & LeVeque (1983) about
// the row's first element k:
//   pass 1  s1 = sum(x - k), s2 = sum((x - k)^2)
//           delta = s1 / d, var = s2 / d - delta^2
//           if delta^2 > 8 var (k far from the mean, where var would cancel): k += delta and
//           pass 1 again, about the (rounded) mean
//           mean = k + delta, rstd = 1 / sqrt(max(var, 0) + eps)
//   pass 2  y = ((x - k) - delta) * rstd * scale + bias
// Cancellation in var is bounded by the ratio (mean - k)^2 / var, kept below 8: rows whose mean
// is far larger than their spread keep their variance, where one-pass moments about zero fail,
// and y centres on k + delta without rounding their sum to the output's precision. Without
// `centred` (RMSNorm) k = delta = mean = 0 and var = sum(x^2) / d. A float32 output of 8 MiB or
// more (rows a multiple of 16 long) is written with AVX-512 streaming stores.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "_isa.h"
#include "_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Elements per task at least, so that small inputs run as one call.
constexpr int64_t kMinBlockElements = int64_t{1} << 15;

// Outputs of at least this many bytes are written with streaming stores: far larger than a
// core's L2, they would be evicted before a reader comes, and each line costs a read to own it.
constexpr int64_t kStreamBytes = int64_t{8} << 20;

// A row's sums are taken again about its mean when (mean - shift)^2 exceeds this many variances
// (the variance's relative rounding error grows as 1 + (mean - shift)^2 / variance).
constexpr double kFarShift = 8;

// The row loops keep kLanes independent partial sums, so one vector add does not wait on the one
// before it (a single accumulator makes the loop latency-bound), and are compiled per
// instruction set (PARALLAX_HOST_ISA, kernels/_isa.h).
constexpr int64_t kLanes = 64;

// The sum of the lanes, halving them: vector adds down to one vector (a sequential sum of 64
// lanes is a chain of 64 dependent adds, longer than the row's pass), and pairwise summation.
template <typename T>
[[gnu::always_inline]] inline T Total(T* lane) {
  for (int64_t w = kLanes / 2; w > 0; w /= 2) {
    for (int64_t l = 0; l < w; ++l) lane[l] += lane[l + w];
  }
  return lane[0];
}

// (sum(x - shift), sum((x - shift)^2)).
template <typename T>
[[gnu::always_inline]] inline void ShiftedSums(const T* x, int64_t n, T shift, T& s1, T& s2) {
  T one[kLanes] = {}, two[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) {
      const T c = x[j + l] - shift;
      one[l] += c;
      two[l] += c * c;
    }
  }
  for (int64_t l = 0; j < n; ++j, ++l) {
    const T c = x[j] - shift;
    one[l] += c;
    two[l] += c * c;
  }
  s1 = Total(one);
  s2 = Total(two);
}

#ifdef PARALLAX_AVX512_INTRINSICS
#define PARALLAX_STREAM_STORES 1
// y = ((x - shift) - delta) * rs * scale + bias for one float32 row of d % 16 == 0 entries into a
// 64-byte aligned y, with streaming stores: the output's cache lines are written without being
// read first, a third of a memory-bound pass's traffic.
__attribute__((target("avx512f"))) void StreamRow(const float* x, const float* scale,
                                                  const float* bias, float* y, int64_t d,
                                                  float shift, float delta, float rs) {
  const __m512 vs = _mm512_set1_ps(shift), vd = _mm512_set1_ps(delta), vr = _mm512_set1_ps(rs);
  for (int64_t j = 0; j < d; j += 16) {
    const __m512 c = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vs), vd);
    _mm512_stream_ps(y + j, _mm512_fmadd_ps(_mm512_mul_ps(c, vr), _mm512_loadu_ps(scale + j),
                                            _mm512_loadu_ps(bias + j)));
  }
}
#endif

// `rows` consecutive rows of length d that share one scale and bias row; `stream`: write y with
// streaming stores where the row allows it.
template <typename T>
[[gnu::always_inline]] inline void Normalise(const T* x, const T* scale, const T* bias, T* y,
                                             T* mean, T* rstd, int64_t rows, int64_t d, T eps,
                                             bool centred, bool stream) {
  for (int64_t r = 0; r < rows; ++r, x += d, y += d) {
    T shift = centred ? x[0] : T(0);
    T s1, s2;
    ShiftedSums(x, d, shift, s1, s2);
    T delta = centred ? s1 / T(d) : T(0);
    T var = s2 / T(d) - delta * delta;
    if (delta * delta > T(kFarShift) * var) {
      shift += delta;
      ShiftedSums(x, d, shift, s1, s2);
      delta = s1 / T(d);
      var = s2 / T(d) - delta * delta;
    }
    var = std::max(var, T(0));
    const T rs = T(1) / std::sqrt(var + eps);
    mean[r] = shift + delta;
    rstd[r] = rs;
#ifdef PARALLAX_STREAM_STORES
    if constexpr (std::is_same_v<T, float>) {
      if (stream) {
        StreamRow(x, scale, bias, y, d, shift, delta, rs);
        continue;
      }
    }
#endif
    for (int64_t j = 0; j < d; ++j) y[j] = ((x[j] - shift) - delta) * rs * scale[j] + bias[j];
  }
}

// One entry point per element type (a clone is a function, not a template).
PARALLAX_HOST_ISA void NormaliseRows(const float* x, const float* scale, const float* bias,
                                     float* y, float* mean, float* rstd, int64_t rows, int64_t d,
                                     float eps, bool centred, bool stream) {
  Normalise(x, scale, bias, y, mean, rstd, rows, d, eps, centred, stream);
}

PARALLAX_HOST_ISA void NormaliseRows(const double* x, const double* scale, const double* bias,
                                     double* y, double* mean, double* rstd, int64_t rows,
                                     int64_t d, double eps, bool centred, bool stream) {
  Normalise(x, scale, bias, y, mean, rstd, rows, d, eps, centred, stream);
}

// Rows of x per row of a parameter of dimensions `p` (leading axes a prefix of x's), or -1.
int64_t RowsPerParameterRow(ffi::Span<const int64_t> x, ffi::Span<const int64_t> p) {
  if (p.size() < 1 || p.size() > x.size() || p.back() != x.back()) return -1;
  int64_t per = 1;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    if (i + 1 < p.size()) {
      if (p[i] != x[i]) return -1;
    } else {
      per *= x[i];
    }
  }
  return per;
}

template <typename T>
void Run(ffi::ThreadPool& pool, const T* x, const T* scale, const T* bias, T* y, T* mean, T* rstd,
         int64_t rows, int64_t d, int64_t scale_every, int64_t bias_every, T eps, bool centred) {
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  const int64_t by_size = std::max<int64_t>(1, rows * d / kMinBlockElements);
  const int64_t blocks = std::min({rows, 4 * threads, by_size});
  const int64_t per = (rows + blocks - 1) / blocks;
  const int64_t count = (rows + per - 1) / per;
  bool stream = false;
#ifdef PARALLAX_STREAM_STORES
  stream = std::is_same_v<T, float> && parallax::kHostAvx512 && d % 16 == 0 &&
           reinterpret_cast<uintptr_t>(y) % 64 == 0 &&
           rows * d * int64_t{sizeof(T)} >= kStreamBytes;
#endif
  parallax::Parallel(pool, count, [&](int64_t i) {
    const int64_t end = std::min(rows, (i + 1) * per);
    for (int64_t lo = i * per; lo < end;) {
      // the run of rows from lo that shares one scale row and one bias row
      const int64_t hi = std::min({end, (lo / scale_every + 1) * scale_every,
                                   (lo / bias_every + 1) * bias_every});
      NormaliseRows(x + lo * d, scale + lo / scale_every * d, bias + lo / bias_every * d,
                    y + lo * d, mean + lo, rstd + lo, hi - lo, d, eps, centred, stream);
      lo = hi;
    }
#ifdef PARALLAX_STREAM_STORES
    if (stream) _mm_sfence();  // streaming stores are weakly ordered: drain them before done
#endif
  });
}

ffi::Error NormRows(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer scale,
                    ffi::AnyBuffer bias, ffi::Result<ffi::AnyBuffer> y,
                    ffi::Result<ffi::AnyBuffer> mean, ffi::Result<ffi::AnyBuffer> rstd, double eps,
                    bool centred) {
  const auto xd = x.dimensions();
  if (xd.size() < 1) return ffi::Error::InvalidArgument("parallax_norm_rows: x has no axis");
  const int64_t d = xd.back();
  const int64_t rows = d == 0 ? 0 : static_cast<int64_t>(x.element_count()) / d;
  const int64_t scale_every = RowsPerParameterRow(xd, scale.dimensions());
  const int64_t bias_every = RowsPerParameterRow(xd, bias.dimensions());
  if (scale_every < 1 || bias_every < 1) {
    return ffi::Error::InvalidArgument(
        "parallax_norm_rows: scale and bias must be (..., d) with leading axes a prefix of x's");
  }
  if (static_cast<int64_t>(mean->element_count()) != rows ||
      static_cast<int64_t>(rstd->element_count()) != rows ||
      y->element_count() != x.element_count()) {
    return ffi::Error::InvalidArgument("parallax_norm_rows: output sizes do not match x");
  }
  if (rows == 0) return ffi::Error::Success();
  const auto type = x.element_type();
  for (auto other : {scale.element_type(), bias.element_type(), y->element_type(),
                     mean->element_type(), rstd->element_type()}) {
    if (other != type) return ffi::Error::InvalidArgument("parallax_norm_rows: dtypes differ");
  }
  if (type == ffi::DataType::F32) {
    Run(pool, static_cast<const float*>(x.untyped_data()),
        static_cast<const float*>(scale.untyped_data()),
        static_cast<const float*>(bias.untyped_data()), static_cast<float*>(y->untyped_data()),
        static_cast<float*>(mean->untyped_data()), static_cast<float*>(rstd->untyped_data()),
        rows, d, scale_every, bias_every, static_cast<float>(eps), centred);
  } else if (type == ffi::DataType::F64) {
    Run(pool, static_cast<const double*>(x.untyped_data()),
        static_cast<const double*>(scale.untyped_data()),
        static_cast<const double*>(bias.untyped_data()), static_cast<double*>(y->untyped_data()),
        static_cast<double*>(mean->untyped_data()), static_cast<double*>(rstd->untyped_data()),
        rows, d, scale_every, bias_every, eps, centred);
  } else {
    return ffi::Error::InvalidArgument("parallax_norm_rows: expected float32 or float64");
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_norm_rows, NormRows,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<double>("eps")
                                  .Attr<bool>("centred"));
