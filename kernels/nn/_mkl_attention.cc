// XLA FFI handlers for exact scaled dot-product attention on CPU: MKL GEMMs on blocks of query
// rows, spread over XLA's intra-op thread pool.
//
// parallax.kernels.nn._mkl_attention compiles this file on first use and registers
// "parallax_mkl_attention_fwd" and "parallax_mkl_attention_bwd" as CPU custom calls.
//
// Layout BTNH: q (..., sq, h, d), k (..., sk, kvh, d), v (..., sk, kvh, dv), all leading axes a
// batch; query head i reads kv head i / (h / kvh). The GEMMs read q, k, v in place (a head's rows
// are `heads * dim` apart).
//
// Forward, per task (batch, head, block of `kBlock` query rows): S = scale Q Kᵀ over the keys the
// block may see (with `causal`, keys j <= i), P = softmax(S) row by row, O = P V; the row
// log-sum-exp L = max + log(sum) is the residual. Without `causal`, the blocks of a kv head share
// one copy of scale Kᵀ in MKL's packed GEMM layout, made first, in parallel over (batch, kv
// head). Memory: one `kBlock x sk` block per thread, and the packed copy (about the size of k) in
// a buffer the calling thread keeps for its next call.
//
// Backward (FlashAttention-2's equations, Dao 2023), per task (batch, kv head): for each query head
// of the group and each query block, P = exp(S - L) is recomputed, dP = dO Vᵀ,
// dS = P * (dP - rowsum(dO * O)), dV += Pᵀ dO, dK += scale dSᵀ Q, dQ = scale dS K. A task owns its
// kv head's dK and dV, so no two threads write the same rows. Memory: per thread, two
// `kBackwardBlock x sk` blocks and one kv head's dK and dV.
//
// Tasks run over XLA's pool through parallax::Parallel (kernels/_pool.h).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "mkl_cblas.h"
#include "mkl_vml.h"
#include "_isa.h"
#include "_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Query rows per block: forward tasks are (batch, head, block); the backward pass's blocks are
// the inner dimension of its dK and dV products, which run faster with more rows.
constexpr int64_t kBlock = 128;
constexpr int64_t kBackwardBlock = 256;

void Gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void Gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// MKL's packed GEMM operands: Pack stores alpha * op(src) as the B matrix of an (m, n, k) product
// in MKL's internal layout, and GemmPacked multiplies by it, so a B operand that many products
// share is copied into that layout once instead of once per product.
size_t PackSize(int64_t m, int64_t n, int64_t k, float) {
  return cblas_sgemm_pack_get_size(CblasBMatrix, m, n, k) / sizeof(float);
}

size_t PackSize(int64_t m, int64_t n, int64_t k, double) {
  return cblas_dgemm_pack_get_size(CblasBMatrix, m, n, k) / sizeof(double);
}

void Pack(CBLAS_TRANSPOSE t, int64_t m, int64_t n, int64_t k, float alpha, const float* src,
          int64_t ld, float* dest) {
  cblas_sgemm_pack(CblasRowMajor, CblasBMatrix, t, m, n, k, alpha, src, ld, dest);
}

void Pack(CBLAS_TRANSPOSE t, int64_t m, int64_t n, int64_t k, double alpha, const double* src,
          int64_t ld, double* dest) {
  cblas_dgemm_pack(CblasRowMajor, CblasBMatrix, t, m, n, k, alpha, src, ld, dest);
}

void GemmPacked(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                float* c, int64_t ldc) {
  cblas_sgemm_compute(CblasRowMajor, CblasNoTrans, CblasPacked, m, n, k, a, lda, b, n, 0.0f, c,
                      ldc);
}

void GemmPacked(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
                double* c, int64_t ldc) {
  cblas_dgemm_compute(CblasRowMajor, CblasNoTrans, CblasPacked, m, n, k, a, lda, b, n, 0.0, c,
                      ldc);
}

// y = exp(x) elementwise (MKL's vector math; in place allowed).
// Low-accuracy mode: a few ulp, far inside the tolerance of the softmax's own rounding.
void Exp(int64_t n, const float* x, float* y) { vmsExp(static_cast<MKL_INT>(n), x, y, VML_LA); }
void Exp(int64_t n, const double* x, double* y) { vmdExp(static_cast<MKL_INT>(n), x, y, VML_LA); }

// Row loops. Each keeps kLanes independent partial results, so a vector max or add does not wait
// on the one before it (a single accumulator makes the loop latency-bound), and is compiled per
// instruction set (PARALLAX_HOST_ISA, kernels/_isa.h).
constexpr int64_t kLanes = 64;

template <typename T>
[[gnu::always_inline]] inline T MaxOf(const T* x, int64_t n) {
  T lane[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) lane[l] = -std::numeric_limits<T>::infinity();
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l];
  }
  for (int64_t l = 0; j < n; ++j, ++l) lane[l] = x[j] > lane[l] ? x[j] : lane[l];
  T top = lane[0];
  for (int64_t l = 1; l < kLanes; ++l) top = lane[l] > top ? lane[l] : top;
  return top;
}

template <typename T>
[[gnu::always_inline]] inline T SumOf(const T* x, int64_t n) {
  T lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lane[l] += x[j + l];
  }
  for (int64_t l = 0; j < n; ++j, ++l) lane[l] += x[j];
  T sum = 0;
  for (int64_t l = 0; l < kLanes; ++l) sum += lane[l];
  return sum;
}

template <typename T>
[[gnu::always_inline]] inline void AddTo(T* x, int64_t n, T shift) {
  for (int64_t j = 0; j < n; ++j) x[j] += shift;
}

template <typename T>
[[gnu::always_inline]] inline void Scale(T* x, int64_t n, T by) {
  for (int64_t j = 0; j < n; ++j) x[j] *= by;
}

template <typename T>
[[gnu::always_inline]] inline T DotOf(const T* x, const T* y, int64_t n) {
  T lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lane[l] += x[j + l] * y[j + l];
  }
  for (int64_t l = 0; j < n; ++j, ++l) lane[l] += x[j] * y[j];
  T sum = 0;
  for (int64_t l = 0; l < kLanes; ++l) sum += lane[l];
  return sum;
}

// x = p * (x - delta), the backward pass's dS from P and dP.
template <typename T>
[[gnu::always_inline]] inline void SoftmaxGrad(const T* p, T* x, int64_t n, T delta) {
  for (int64_t j = 0; j < n; ++j) x[j] = p[j] * (x[j] - delta);
}

// The row loops' entry points, one per element type (a clone is a function, not a template).
#define PARALLAX_ROW_LOOPS(T)                                                                 \
  PARALLAX_HOST_ISA T RowMax(const T* x, int64_t n) { return MaxOf(x, n); }                \
  PARALLAX_HOST_ISA T RowSum(const T* x, int64_t n) { return SumOf(x, n); }                \
  PARALLAX_HOST_ISA T RowDot(const T* x, const T* y, int64_t n) { return DotOf(x, y, n); }  \
  PARALLAX_HOST_ISA void RowAdd(T* x, int64_t n, T shift) { AddTo(x, n, shift); }          \
  PARALLAX_HOST_ISA void RowScale(T* x, int64_t n, T by) { Scale(x, n, by); }              \
  PARALLAX_HOST_ISA void RowSoftmaxGrad(const T* p, T* x, int64_t n, T delta) {            \
    SoftmaxGrad(p, x, n, delta);                                                              \
  }
PARALLAX_ROW_LOOPS(float)
PARALLAX_ROW_LOOPS(double)
#undef PARALLAX_ROW_LOOPS

#ifdef PARALLAX_AVX512_INTRINSICS
#define PARALLAX_AVX512_EXP 1
// float32 on AVX-512: ShiftedExp and ExpGrad below in one pass each, with exp evaluated in
// registers. exp(t) = 2^n e^r with n = round(t / ln 2), r = t - n ln 2 (ln 2 split in two for an
// exact product; |r| <= ln 2 / 2) and e^r Cephes' degree-7 polynomial (expf, about 1 ulp); scalef
// multiplies by 2^n, underflowing to 0 far below the range softmax keeps. t is clamped below at
// -104 (exp is 0 in float32 there) so that t = -inf gives 0, not inf - inf; NaN passes through.
__attribute__((target("avx512f"))) inline __m512 ExpZmm(__m512 t) {
  t = _mm512_max_ps(_mm512_set1_ps(-104.0f), t);
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(y, n);
}

// Masks for a tail of n < 16 floats.
__attribute__((target("avx512f"))) inline __mmask16 Tail(int64_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

__attribute__((target("avx512f"))) float ShiftedExpAvx512(float* row, int64_t n, float shift) {
  const __m512 c = _mm512_set1_ps(shift);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) {
    const __m512 e0 = ExpZmm(_mm512_sub_ps(_mm512_loadu_ps(row + j), c));
    const __m512 e1 = ExpZmm(_mm512_sub_ps(_mm512_loadu_ps(row + j + 16), c));
    const __m512 e2 = ExpZmm(_mm512_sub_ps(_mm512_loadu_ps(row + j + 32), c));
    const __m512 e3 = ExpZmm(_mm512_sub_ps(_mm512_loadu_ps(row + j + 48), c));
    _mm512_storeu_ps(row + j, e0);
    _mm512_storeu_ps(row + j + 16, e1);
    _mm512_storeu_ps(row + j + 32, e2);
    _mm512_storeu_ps(row + j + 48, e3);
    s0 = _mm512_add_ps(s0, e0);
    s1 = _mm512_add_ps(s1, e1);
    s2 = _mm512_add_ps(s2, e2);
    s3 = _mm512_add_ps(s3, e3);
  }
  for (; j < n; j += 16) {
    const __mmask16 m = Tail(std::min<int64_t>(16, n - j));
    const __m512 e = ExpZmm(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), c));
    _mm512_mask_storeu_ps(row + j, m, e);
    s0 = _mm512_mask_add_ps(s0, m, s0, e);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx512f"))) void ExpGradAvx512(float* p, float* ds, int64_t n, float shift,
                                                      float delta) {
  const __m512 c = _mm512_set1_ps(shift), dl = _mm512_set1_ps(delta);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = Tail(std::min<int64_t>(16, n - j));
    const __m512 e = ExpZmm(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + j), c));
    _mm512_mask_storeu_ps(p + j, m, e);
    const __m512 g = _mm512_mul_ps(e, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, ds + j), dl));
    _mm512_mask_storeu_ps(ds + j, m, g);
  }
}

#endif

// exp(row - shift) in place over the first `seen` entries; returns their sum.
template <typename T>
T ShiftedExp(T* row, int64_t seen, T shift) {
#ifdef PARALLAX_AVX512_EXP
  if constexpr (std::is_same_v<T, float>) {
    if (parallax::kHostAvx512) return ShiftedExpAvx512(row, seen, shift);
  }
#endif
  RowAdd(row, seen, -shift);
  Exp(seen, row, row);
  return RowSum(row, seen);
}

// p = exp(p - shift), then ds = p * (ds - delta), over n entries (the backward pass's P and dS).
template <typename T>
void ExpGrad(T* p, T* ds, int64_t n, T shift, T delta) {
#ifdef PARALLAX_AVX512_EXP
  if constexpr (std::is_same_v<T, float>) {
    if (parallax::kHostAvx512) return ExpGradAvx512(p, ds, n, shift, delta);
  }
#endif
  RowAdd(p, n, -shift);
  Exp(n, p, p);
  RowSoftmaxGrad(p, ds, n, delta);
}

struct Shape {
  int64_t batch, sq, sk, h, kvh, d, dv;
};

ffi::ErrorOr<Shape> GetShape(const ffi::AnyBuffer& q, const ffi::AnyBuffer& k,
                             const ffi::AnyBuffer& v) {
  auto qd = q.dimensions(), kd = k.dimensions(), vd = v.dimensions();
  const size_t r = qd.size();
  if (r < 3 || kd.size() != r || vd.size() != r) {
    return ffi::Unexpected(ffi::Error::InvalidArgument("q, k, v: expected (..., seq, heads, dim)"));
  }
  Shape s{1, qd[r - 3], kd[r - 3], qd[r - 2], kd[r - 2], qd[r - 1], vd[r - 1]};
  for (size_t i = 0; i + 3 < r; ++i) {
    if (qd[i] != kd[i] || qd[i] != vd[i]) {
      return ffi::Unexpected(ffi::Error::InvalidArgument("q, k, v: batch axes differ"));
    }
    s.batch *= qd[i];
  }
  if (kd[r - 1] != s.d || vd[r - 3] != s.sk || vd[r - 2] != s.kvh || s.kvh == 0 ||
      s.h % s.kvh != 0) {
    return ffi::Unexpected(ffi::Error::InvalidArgument("q, k, v: shapes do not match"));
  }
  return s;
}

// The distance between rows of a score block of `keys` columns: whole cache lines, and not a
// multiple of 4 KiB, whose rows would all compete for the same few sets of the L1 cache.
template <typename T>
int64_t RowStride(int64_t keys) {
  constexpr int64_t line = 64 / sizeof(T), page = 4096 / sizeof(T);
  const int64_t ld = (keys + line - 1) / line * line;
  return ld % page == 0 ? ld + line : ld;
}

// The number of keys query rows [r0, r0 + rows) see: all, or with `causal` those j <= last row.
int64_t VisibleKeys(const Shape& s, bool causal, int64_t r0, int64_t rows) {
  return causal ? std::min(s.sk, r0 + rows) : s.sk;
}

// Every (batch, kv head)'s scale Kᵀ, packed as the B operand of S = Q (scale Kᵀ) for a full block
// of `rows` query rows. Only without `causal` (a causal block sees a prefix of the keys that
// depends on the block), and only where more than one full block shares a kv head. V stays as it
// is: MKL's product O = P V reads it in place, without a copy to save.
template <typename T>
struct Packed {
  int64_t rows = 0;  // 0: nothing packed
  size_t size = 0;   // elements per (batch, kv head), whole cache lines
  T* base = nullptr;
  T* K(int64_t bg) const { return base + bg * size; }
};

template <typename T>
size_t CacheLines(size_t n) {
  constexpr size_t line = 64 / sizeof(T);
  return (n + line - 1) / line * line;
}

template <typename T>
void PackGroup(const Shape& s, T scale, const T* k, const Packed<T>& packed, int64_t bg) {
  const int64_t b = bg / s.kvh, g = bg % s.kvh;
  const T* kb = k + (b * s.sk * s.kvh + g) * s.d;
  Pack(CblasTrans, packed.rows, s.sk, s.d, scale, kb, s.kvh * s.d, packed.K(bg));
}

template <typename T>
void ForwardBlock(const Shape& s, bool causal, T scale, const T* q, const T* k, const T* v, T* o,
                  T* lse, const Packed<T>& packed, int64_t task, std::vector<T>& p) {
  const int64_t blocks = (s.sq + kBlock - 1) / kBlock;
  const int64_t b = task / (s.h * blocks), h = (task / blocks) % s.h, r0 = (task % blocks) * kBlock;
  const int64_t rows = std::min(kBlock, s.sq - r0), g = h / (s.h / s.kvh);
  const int64_t keys = VisibleKeys(s, causal, r0, rows);
  const bool use_packed = packed.rows == rows;
  const T* qb = q + ((b * s.sq + r0) * s.h + h) * s.d;
  const T* kb = k + (b * s.sk * s.kvh + g) * s.d;
  const T* vb = v + (b * s.sk * s.kvh + g) * s.dv;
  T* ob = o + ((b * s.sq + r0) * s.h + h) * s.dv;
  T* lb = lse + (b * s.h + h) * s.sq + r0;
  const int64_t ld = RowStride<T>(keys);
  p.resize(rows * ld);
  T inv[kBlock];
  if (use_packed) {
    GemmPacked(rows, keys, s.d, qb, s.h * s.d, packed.K(b * s.kvh + g), p.data(), ld);
  } else {
    Gemm(CblasNoTrans, CblasTrans, rows, keys, s.d, scale, qb, s.h * s.d, kb, s.kvh * s.d, T(0),
         p.data(), ld);
  }
  for (int64_t i = 0; i < rows; ++i) {
    T* row = p.data() + i * ld;
    const int64_t seen = causal ? std::min(keys, r0 + i + 1) : keys;
    const T top = RowMax(row, seen);
    const T sum = ShiftedExp(row, seen, top);
    std::fill(row + seen, row + keys, T(0));
    lb[i] = top + std::log(sum);
    inv[i] = T(1) / sum;
  }
  // O = P V with P unnormalised, then each output row divided by its sum: dv per row, not sk.
  Gemm(CblasNoTrans, CblasNoTrans, rows, s.dv, keys, T(1), p.data(), ld, vb, s.kvh * s.dv, T(0),
       ob, s.h * s.dv);
  for (int64_t i = 0; i < rows; ++i) RowScale(ob + i * s.h * s.dv, s.dv, inv[i]);
}

template <typename T>
void BackwardGroup(const Shape& s, bool causal, T scale, const T* q, const T* k, const T* v,
                   const T* o, const T* lse, const T* dout, T* dq, T* dk, T* dv, int64_t task,
                   std::vector<T>& p, std::vector<T>& ds, std::vector<T>& acc) {
  const int64_t b = task / s.kvh, g = task % s.kvh, group = s.h / s.kvh;
  const T* kb = k + (b * s.sk * s.kvh + g) * s.d;
  const T* vb = v + (b * s.sk * s.kvh + g) * s.dv;
  T* dko = dk + (b * s.sk * s.kvh + g) * s.d;
  T* dvo = dv + (b * s.sk * s.kvh + g) * s.dv;
  // dK and dV accumulate in contiguous rows (the products' output rows `d` apart rather than
  // `kvh * d`) and are copied out at the end.
  acc.resize(s.sk * (s.d + s.dv));
  T* dkb = acc.data();
  T* dvb = acc.data() + s.sk * s.d;
  // The first block's products write dK and dV (beta = 0) on the keys it sees; the rest start at 0.
  for (int64_t j = VisibleKeys(s, causal, 0, std::min(kBackwardBlock, s.sq)); j < s.sk; ++j) {
    std::fill(dkb + j * s.d, dkb + j * s.d + s.d, T(0));
    std::fill(dvb + j * s.dv, dvb + j * s.dv + s.dv, T(0));
  }
  for (int64_t h = g * group; h < (g + 1) * group; ++h) {
    for (int64_t r0 = 0; r0 < s.sq; r0 += kBackwardBlock) {
      const T beta = h == g * group && r0 == 0 ? T(0) : T(1);
      const int64_t rows = std::min(kBackwardBlock, s.sq - r0);
      const int64_t keys = VisibleKeys(s, causal, r0, rows);
      const int64_t at = (b * s.sq + r0) * s.h + h;
      const T* qb = q + at * s.d;
      const T* ob = o + at * s.dv;
      const T* dob = dout + at * s.dv;
      T* dqb = dq + at * s.d;
      const T* lb = lse + (b * s.h + h) * s.sq + r0;
      const int64_t ld = RowStride<T>(keys);
      p.resize(rows * ld);
      ds.resize(rows * ld);
      Gemm(CblasNoTrans, CblasTrans, rows, keys, s.d, scale, qb, s.h * s.d, kb, s.kvh * s.d, T(0),
           p.data(), ld);
      Gemm(CblasNoTrans, CblasTrans, rows, keys, s.dv, T(1), dob, s.h * s.dv, vb, s.kvh * s.dv,
           T(0), ds.data(), ld);
      for (int64_t i = 0; i < rows; ++i) {
        const T* oi = ob + i * s.h * s.dv;
        const T* doi = dob + i * s.h * s.dv;
        const T delta = RowDot(oi, doi, s.dv);
        T* prow = p.data() + i * ld;
        T* drow = ds.data() + i * ld;
        const int64_t seen = causal ? std::min(keys, r0 + i + 1) : keys;
        ExpGrad(prow, drow, seen, lb[i], delta);
        std::fill(prow + seen, prow + keys, T(0));
        std::fill(drow + seen, drow + keys, T(0));
      }
      Gemm(CblasTrans, CblasNoTrans, keys, s.dv, rows, T(1), p.data(), ld, dob, s.h * s.dv, beta,
           dvb, s.dv);
      Gemm(CblasTrans, CblasNoTrans, keys, s.d, rows, scale, ds.data(), ld, qb, s.h * s.d, beta,
           dkb, s.d);
      Gemm(CblasNoTrans, CblasNoTrans, rows, s.d, keys, scale, ds.data(), ld, kb, s.kvh * s.d,
           T(0), dqb, s.h * s.d);
    }
  }
  for (int64_t j = 0; j < s.sk; ++j) {
    std::copy(dkb + j * s.d, dkb + (j + 1) * s.d, dko + j * s.kvh * s.d);
    std::copy(dvb + j * s.dv, dvb + (j + 1) * s.dv, dvo + j * s.kvh * s.dv);
  }
}

template <typename T>
T* Data(ffi::AnyBuffer& x) {
  return static_cast<T*>(x.untyped_data());
}

template <typename T>
T* Data(ffi::Result<ffi::AnyBuffer>& x) {
  return static_cast<T*>(x->untyped_data());
}

ffi::Error Forward(ffi::ThreadPool pool, ffi::AnyBuffer q, ffi::AnyBuffer k, ffi::AnyBuffer v,
                   ffi::Result<ffi::AnyBuffer> o, ffi::Result<ffi::AnyBuffer> lse, bool causal,
                   double scale) {
  auto shape = GetShape(q, k, v);
  if (shape.has_error()) return shape.error();
  const Shape s = *shape;
  const int64_t tasks = s.batch * s.h * ((s.sq + kBlock - 1) / kBlock);
  if (tasks == 0) return ffi::Error::Success();
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const T* kd = Data<T>(k);
    const T* vd = Data<T>(v);
    Packed<T> packed;
    // The packed operands live in a buffer of the calling thread that its later calls reuse:
    // mapping fresh pages for them on every call costs more than the packing saves.
    thread_local std::vector<T> storage;
    const int64_t uses = (s.h / s.kvh) * (s.sq / kBlock);
    if (!causal && uses > 1) {
      packed.rows = kBlock;
      packed.size = CacheLines<T>(PackSize(kBlock, s.sk, s.d, T(0)));
      const size_t line = 64 / sizeof(T);
      storage.resize(s.batch * s.kvh * packed.size + line);
      const auto at = reinterpret_cast<uintptr_t>(storage.data());
      packed.base = storage.data() + (line - at / sizeof(T) % line) % line;
      parallax::Parallel(pool, s.batch * s.kvh, [&](int64_t bg) {
        PackGroup<T>(s, T(scale), kd, packed, bg);
      });
    }
    parallax::Parallel(pool, tasks, [&](int64_t task) {
      thread_local std::vector<T> p;
      ForwardBlock<T>(s, causal, T(scale), Data<T>(q), kd, vd, Data<T>(o), Data<T>(lse), packed,
                      task, p);
    });
  };
  switch (q.element_type()) {
    case ffi::DataType::F32: run(float(0)); break;
    case ffi::DataType::F64: run(double(0)); break;
    default: return ffi::Error::InvalidArgument("q: expected float32 or float64");
  }
  return ffi::Error::Success();
}

ffi::Error Backward(ffi::ThreadPool pool, ffi::AnyBuffer q, ffi::AnyBuffer k, ffi::AnyBuffer v,
                    ffi::AnyBuffer o, ffi::AnyBuffer lse, ffi::AnyBuffer dout,
                    ffi::Result<ffi::AnyBuffer> dq, ffi::Result<ffi::AnyBuffer> dk,
                    ffi::Result<ffi::AnyBuffer> dv, bool causal, double scale) {
  auto shape = GetShape(q, k, v);
  if (shape.has_error()) return shape.error();
  const Shape s = *shape;
  const int64_t tasks = s.batch * s.kvh;
  if (tasks == 0 || s.sq == 0 || s.sk == 0) return ffi::Error::Success();
  auto run = [&](auto zero) {
    using T = decltype(zero);
    parallax::Parallel(pool, tasks, [&](int64_t task) {
      thread_local std::vector<T> p, ds, acc;
      BackwardGroup<T>(s, causal, T(scale), Data<T>(q), Data<T>(k), Data<T>(v), Data<T>(o),
                       Data<T>(lse), Data<T>(dout), Data<T>(dq), Data<T>(dk), Data<T>(dv), task,
                       p, ds, acc);
    });
  };
  switch (q.element_type()) {
    case ffi::DataType::F32: run(float(0)); break;
    case ffi::DataType::F64: run(double(0)); break;
    default: return ffi::Error::InvalidArgument("q: expected float32 or float64");
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_attention_fwd, Forward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<bool>("causal")
                                  .Attr<double>("scale"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_attention_bwd, Backward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<bool>("causal")
                                  .Attr<double>("scale"));
