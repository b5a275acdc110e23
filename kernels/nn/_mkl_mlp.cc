// XLA FFI handlers for a token-wise MLP on CPU in one pass: per block of tokens, every layer's
// MKL GEMM, the biases and the activation, with the hidden activations kept in cache.
//
// parallax.kernels.nn._mkl_mlp compiles this file on first use and registers
// "parallax_mkl_mlp" and "parallax_mkl_glu" as CPU custom calls.
//
//   parallax_mkl_mlp:  y = act(x W1 + b1) W2 + b2
//   parallax_mkl_glu:  y = (act(x Wg + bg) ⊙ (x Wu + bu)) Wd + bd
//
// x (tokens, d_in) and the weights (in, out) are row-major float32 or float64. Tokens are cut
// into blocks of kRows; each block is one task on XLA's intra-op pool (parallax::Parallel,
// kernels/_pool.h) that runs the layers' sequential GEMMs on a (kRows, d_hidden) buffer of its
// thread, so the hidden activations never travel through memory. When there are several full
// blocks every weight is first copied once into MKL's packed GEMM layout and every full block
// multiplies by that copy. Each GEMM starts from its bias rows (beta = 1), so the bias costs no
// pass of its own; activations use MKL's vector math.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mkl_cblas.h"
#include "mkl_vml.h"
#include "_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Tokens per block: the (kRows, d_hidden) buffers of a block stay in a core's L2 cache for
// hidden widths of a few thousand, and kRows rows keep MKL's GEMM kernel at full speed.
constexpr int64_t kRows = 128;

// Elements per activation chunk: the temporary of a chunk stays in L1.
constexpr int64_t kChunk = 2048;

// The activation codes of parallax.kernels.nn._mkl_mlp.ACTIVATIONS.
enum Activation : int32_t {
  kIdentity = 0,
  kRelu = 1,
  kSilu = 2,
  kGeluExact = 3,
  kGeluTanh = 4,
  kTanh = 5,
};

void Gemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 1.0f, c, n);
}

void Gemm(int64_t m, int64_t n, int64_t k, const double* a, const double* b, double* c) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k, b, n, 1.0, c, n);
}

size_t PackSize(int64_t m, int64_t n, int64_t k, float) {
  return cblas_sgemm_pack_get_size(CblasBMatrix, m, n, k) / sizeof(float);
}

size_t PackSize(int64_t m, int64_t n, int64_t k, double) {
  return cblas_dgemm_pack_get_size(CblasBMatrix, m, n, k) / sizeof(double);
}

void Pack(int64_t m, int64_t n, int64_t k, const float* b, float* dest) {
  cblas_sgemm_pack(CblasRowMajor, CblasBMatrix, CblasNoTrans, m, n, k, 1.0f, b, n, dest);
}

void Pack(int64_t m, int64_t n, int64_t k, const double* b, double* dest) {
  cblas_dgemm_pack(CblasRowMajor, CblasBMatrix, CblasNoTrans, m, n, k, 1.0, b, n, dest);
}

void GemmPacked(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  cblas_sgemm_compute(CblasRowMajor, CblasNoTrans, CblasPacked, m, n, k, a, k, b, n, 1.0f, c, n);
}

void GemmPacked(int64_t m, int64_t n, int64_t k, const double* a, const double* b, double* c) {
  cblas_dgemm_compute(CblasRowMajor, CblasNoTrans, CblasPacked, m, n, k, a, k, b, n, 1.0, c, n);
}

// MKL's vector math, low-accuracy mode (a few ulp); in place allowed.
void Exp(int64_t n, const float* x, float* y) { vmsExp(static_cast<MKL_INT>(n), x, y, VML_LA); }
void Exp(int64_t n, const double* x, double* y) { vmdExp(static_cast<MKL_INT>(n), x, y, VML_LA); }
void Tanh(int64_t n, const float* x, float* y) { vmsTanh(static_cast<MKL_INT>(n), x, y, VML_LA); }
void Tanh(int64_t n, const double* x, double* y) {
  vmdTanh(static_cast<MKL_INT>(n), x, y, VML_LA);
}
void CdfNorm(int64_t n, const float* x, float* y) {
  vmsCdfNorm(static_cast<MKL_INT>(n), x, y, VML_LA);
}
void CdfNorm(int64_t n, const double* x, double* y) {
  vmdCdfNorm(static_cast<MKL_INT>(n), x, y, VML_LA);
}

// h = act(h) ⊙ u in place (u may be null: no product), with jax.nn's functions: silu
// x σ(x) = x (1 + tanh(x/2)) / 2, gelu_exact x Φ(x), gelu_tanh x (1 + tanh(√(2/π) (x +
// 0.044715 x³))) / 2; relu keeps NaN. Chunks of kChunk elements: one vector-math call and one
// pass that applies the rest and the product.
template <typename T>
void Activate(int32_t act, int64_t n, T* h, const T* u) {
  thread_local std::vector<T> scratch(kChunk);
  T* t = scratch.data();
  for (int64_t lo = 0; lo < n; lo += kChunk) {
    const int64_t len = std::min(kChunk, n - lo);
    T* x = h + lo;
    const T* v = u == nullptr ? nullptr : u + lo;
    switch (act) {
      case kIdentity:
        break;
      case kRelu:
        for (int64_t i = 0; i < len; ++i) x[i] = x[i] < T(0) ? T(0) : x[i];
        break;
      case kTanh:
        Tanh(len, x, x);
        break;
      case kSilu:
        for (int64_t i = 0; i < len; ++i) t[i] = T(0.5) * x[i];
        Tanh(len, t, t);
        for (int64_t i = 0; i < len; ++i) x[i] = x[i] * (T(0.5) + T(0.5) * t[i]);
        break;
      case kGeluExact:
        CdfNorm(len, x, t);
        for (int64_t i = 0; i < len; ++i) x[i] *= t[i];
        break;
      default: {  // kGeluTanh
        const T c = T(0.7978845608028654);  // √(2/π)
        for (int64_t i = 0; i < len; ++i) t[i] = c * (x[i] + T(0.044715) * x[i] * x[i] * x[i]);
        Tanh(len, t, t);
        for (int64_t i = 0; i < len; ++i) x[i] = x[i] * (T(0.5) + T(0.5) * t[i]);
      }
    }
    if (v != nullptr) {
      for (int64_t i = 0; i < len; ++i) x[i] *= v[i];
    }
  }
}

// One dense layer: weight (k, n), bias (n), and the weight's packed copy (null: none).
template <typename T>
struct Layer {
  const T* w;
  const T* b;
  int64_t k, n;
  T* packed;
};

// c (rows, n) = a (rows, k) W + b.
template <typename T>
void Dense(const Layer<T>& layer, int64_t rows, const T* a, T* c) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(c + r * layer.n, layer.b, layer.n * sizeof(T));
  if (layer.k == 0 || layer.n == 0) return;
  if (layer.packed != nullptr && rows == kRows) {
    GemmPacked(rows, layer.n, layer.k, a, layer.packed, c);
  } else {
    Gemm(rows, layer.n, layer.k, a, layer.w, c);
  }
}

template <typename T>
const T* In(const ffi::AnyBuffer& b) {
  return static_cast<const T*>(b.untyped_data());
}

// Packs every layer's weight (as the B operand of a kRows-row product) into a buffer of the
// calling thread that its later calls reuse: mapping fresh pages on every call costs more than
// the packing saves.
template <typename T>
void PackAll(ffi::ThreadPool& pool, std::vector<Layer<T>>& layers) {
  constexpr size_t kLine = 64 / sizeof(T);
  std::vector<size_t> offsets;
  size_t total = 0;
  for (const auto& l : layers) {
    offsets.push_back(total);
    total += (PackSize(kRows, l.n, l.k, T(0)) + kLine - 1) / kLine * kLine;
  }
  thread_local std::vector<T> storage;
  storage.resize(total + kLine);
  const auto at = reinterpret_cast<uintptr_t>(storage.data());
  T* base = storage.data() + (kLine - at / sizeof(T) % kLine) % kLine;
  for (size_t i = 0; i < layers.size(); ++i) layers[i].packed = base + offsets[i];
  parallax::Parallel(pool, static_cast<int64_t>(layers.size()), [&](int64_t i) {
    Pack(kRows, layers[i].n, layers[i].k, layers[i].w, layers[i].packed);
  });
}

// y for every block of tokens; `gated` layers are (gate, up, down), else (first, second).
template <typename T>
void Run(ffi::ThreadPool& pool, bool gated, int32_t act, int64_t tokens, const T* x,
         std::vector<Layer<T>> layers, T* y) {
  const int64_t blocks = (tokens + kRows - 1) / kRows;
  const bool any_empty = std::any_of(layers.begin(), layers.end(), [](const Layer<T>& l) {
    return l.k == 0 || l.n == 0;
  });
  if (tokens / kRows >= 2 && !any_empty) PackAll(pool, layers);
  const Layer<T>& out = layers.back();
  const int64_t hidden = layers.front().n;
  parallax::Parallel(pool, blocks, [&](int64_t i) {
    const int64_t lo = i * kRows, rows = std::min(kRows, tokens - lo);
    thread_local std::vector<T> h, u;
    h.resize(kRows * hidden);
    const T* xb = x + lo * layers.front().k;
    Dense(layers[0], rows, xb, h.data());
    if (gated) {
      u.resize(kRows * hidden);
      Dense(layers[1], rows, xb, u.data());
    }
    Activate(act, rows * hidden, h.data(), gated ? u.data() : nullptr);
    Dense(out, rows, h.data(), y + lo * out.n);
  });
}

// Shapes: x (tokens, d_in), then (weight (k, n), bias (n)) per layer, chained.
ffi::Error Check(const ffi::AnyBuffer& x, const std::vector<const ffi::AnyBuffer*>& params,
                 const ffi::AnyBuffer& y) {
  const auto xd = x.dimensions(), yd = y.dimensions();
  if (xd.size() != 2 || yd.size() != 2 || yd[0] != xd[0]) {
    return ffi::Error::InvalidArgument(
        "parallax_mkl_mlp: expected x (tokens, d_in), y (tokens, d_out)");
  }
  const auto type = x.element_type();
  if (type != ffi::DataType::F32 && type != ffi::DataType::F64) {
    return ffi::Error::InvalidArgument("parallax_mkl_mlp: expected float32 or float64");
  }
  for (const auto* p : params) {
    if (p->element_type() != type || y.element_type() != type) {
      return ffi::Error::InvalidArgument("parallax_mkl_mlp: operands differ in dtype");
    }
  }
  return ffi::Error::Success();
}

template <typename T>
std::vector<Layer<T>> Layers(const std::vector<const ffi::AnyBuffer*>& params) {
  std::vector<Layer<T>> layers;
  for (size_t i = 0; i + 1 < params.size(); i += 2) {
    const auto wd = params[i]->dimensions();
    layers.push_back({In<T>(*params[i]), In<T>(*params[i + 1]), wd[0], wd[1], nullptr});
  }
  return layers;
}

// Layers chain: each weight's rows are the previous layer's output width (x's features first;
// the gate and up projections of a GLU both read x and share their width).
ffi::Error CheckChain(int64_t d_in, bool gated, const std::vector<const ffi::AnyBuffer*>& params,
                      int64_t d_out) {
  int64_t width = d_in;
  for (size_t i = 0; i + 1 < params.size(); i += 2) {
    const auto wd = params[i]->dimensions(), bd = params[i + 1]->dimensions();
    const bool reads_x = gated && i == 2;
    const int64_t rows = reads_x ? d_in : width;
    if (wd.size() != 2 || bd.size() != 1 || wd[0] != rows || bd[0] != wd[1] ||
        (reads_x && wd[1] != width)) {
      return ffi::Error::InvalidArgument("parallax_mkl_mlp: weight shapes do not chain");
    }
    width = wd[1];
  }
  if (width != d_out) return ffi::Error::InvalidArgument("parallax_mkl_mlp: output width");
  return ffi::Error::Success();
}

ffi::Error Forward(ffi::ThreadPool& pool, bool gated, int32_t act, const ffi::AnyBuffer& x,
                   const std::vector<const ffi::AnyBuffer*>& params, ffi::AnyBuffer& y) {
  if (auto e = Check(x, params, y); e.failure()) return e;
  const int64_t tokens = x.dimensions()[0];
  if (auto e = CheckChain(x.dimensions()[1], gated, params, y.dimensions()[1]); e.failure()) {
    return e;
  }
  if (act < kIdentity || act > kTanh) {
    return ffi::Error::InvalidArgument("parallax_mkl_mlp: unknown activation code");
  }
  if (tokens == 0 || y.dimensions()[1] == 0) return ffi::Error::Success();
  if (x.element_type() == ffi::DataType::F32) {
    Run<float>(pool, gated, act, tokens, In<float>(x), Layers<float>(params),
               static_cast<float*>(y.untyped_data()));
  } else {
    Run<double>(pool, gated, act, tokens, In<double>(x), Layers<double>(params),
                static_cast<double*>(y.untyped_data()));
  }
  return ffi::Error::Success();
}

ffi::Error Mlp(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer w1, ffi::AnyBuffer b1,
               ffi::AnyBuffer w2, ffi::AnyBuffer b2, ffi::Result<ffi::AnyBuffer> y,
               int32_t activation) {
  return Forward(pool, false, activation, x, {&w1, &b1, &w2, &b2}, *y);
}

ffi::Error Glu(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer wg, ffi::AnyBuffer bg,
               ffi::AnyBuffer wu, ffi::AnyBuffer bu, ffi::AnyBuffer wd, ffi::AnyBuffer bd,
               ffi::Result<ffi::AnyBuffer> y, int32_t activation) {
  return Forward(pool, true, activation, x, {&wg, &bg, &wu, &bu, &wd, &bd}, *y);
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_mlp, Mlp,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int32_t>("activation"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_glu, Glu,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int32_t>("activation"));
