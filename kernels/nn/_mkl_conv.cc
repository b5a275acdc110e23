// XLA FFI handlers for a 2D convolution on CPU: im2col blocks and MKL's GEMM, spread over XLA's
// intra-op thread pool.
//
// parallax.kernels.nn._mkl_conv compiles this file on first use and registers
// "parallax_mkl_conv_2d" (the convolution), "parallax_mkl_conv_2d_input" (its input gradient)
// and "parallax_mkl_conv_2d_weight" (its kernel gradient) as CPU custom calls.
//
// Layouts are channels-last: x (n, h, w, c), kernel (k_h, k_w, c / g, o), y (n, h_out, w_out, o)
// for g groups: output channels [j o / g, (j + 1) o / g) read input channels
// [j c / g, (j + 1) c / g) only. Output pixel (p, q) reads x at row s_h p + d_h a - lo_h and
// column s_w q + d_w b - lo_w for every tap (a, b) of the kernel, zero outside x; these are the
// parameters of XLA's convolution (window strides s, padding lo, rhs dilation d,
// feature_group_count g). The output shape comes with the result (or cotangent) buffer.
//
// The pixels (n, p, q) of the output are cut into blocks of whole rows of the im2col matrix
// (pixel, (j, a, b, c')) that fill kBlockBytes, so that each block stays in L2 while MKL reads
// it. Per group j, with the group's columns of the im2col block and of the kernel K
// (k_h k_w c / g, o / g):
//   convolution:    y[block] = bias + im2col(x)[block] K
//   input gradient: x_bar += col2im(y_bar[block] K^T)   (a scatter-add of the block's patches)
//   weight:         K_bar = sum over blocks of im2col(x)[block]^T y_bar[block]
// Each block is one sequential MKL GEMM per group (MKL's sequential layer: it never competes
// with XLA's threads for the cores). A 3x3 kernel at stride 1 and dilation 1 in one group takes
// Winograd's F(2x2, 3x3) instead (below, at WinogradForward): blocks of 2x2 output tiles, 16
// GEMMs per block, 2.25 times fewer multiplies. The weight gradient gives each task of
// parallax::Parallel its own accumulator and adds them up at the end; the input gradient gives
// each task a band of output rows of one image, running bands whose patches cannot overlap at
// the same time.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "mkl_cblas.h"
#include "_isa.h"
#include "_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Bytes of im2col matrix per block: a block, the kernel and the block's output rows stay in a
// core's L2 while MKL runs over them.
constexpr int64_t kBlockBytes = int64_t{512} << 10;
// Blocks per task of the weight gradient is chosen so that there are about this many tasks per
// thread: enough to balance threads that run at different speeds, few accumulators to add up.
constexpr int64_t kTasksPerThread = 4;
// Below this many multiply-adds a call runs on the calling thread alone.
constexpr int64_t kMinParallelFlops = int64_t{1} << 20;
// Bytes of transformed input and output tiles per block of Winograd's convolution.
constexpr int64_t kWinogradBlockBytes = int64_t{768} << 10;

struct Geometry {
  int64_t n, h, w, c;          // input
  int64_t kh, kw, o;           // kernel (its input features are c / groups)
  int64_t ho, wo;              // output
  int64_t sh, sw, lo_h, lo_w;  // window strides, low padding (may be negative: a crop)
  int64_t dh, dw;              // kernel (rhs) dilation
  int64_t groups;

  int64_t Taps() const { return kh * kw * c; }
  int64_t GroupTaps() const { return kh * kw * (c / groups); }
  int64_t Pixels() const { return n * ho * wo; }
  int64_t Flops() const { return Pixels() * GroupTaps() * o; }
  // x itself is the im2col matrix: a 1x1 kernel reading every input pixel once, in order.
  bool Pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && lo_h == 0 && lo_w == 0 && ho == h &&
           wo == w;
  }
  int64_t BlockPixels(int64_t itemsize) const {
    return std::max<int64_t>(8, kBlockBytes / std::max<int64_t>(1, Taps() * itemsize));
  }
};

// Copies patch values between x and rows [pix0, pix0 + count) of the im2col matrix buf
// (count x k_h k_w c, row-major): Gather fills buf (zeros outside x), scatter adds buf into x
// (skipping places outside x).
template <bool kGather, typename T>
void Patches(const Geometry& g, T* x, int64_t pix0, int64_t count, T* buf) {
  const int64_t taps = g.Taps(), plane = g.ho * g.wo;
  const int64_t cg = g.c / g.groups, group_taps = g.GroupTaps();
  auto move = [](T* patch, T* image, int64_t len) {
    if constexpr (kGather) {
      std::memcpy(patch, image, sizeof(T) * len);
    } else {
      for (int64_t e = 0; e < len; ++e) image[e] += patch[e];
    }
  };
  auto zero = [](T* patch, int64_t len) {
    if constexpr (kGather) std::fill(patch, patch + len, T(0));
  };
  // A kernel row reads k_w adjacent pixels, which are k_w c adjacent values of x.
  const bool dense_row = g.dw == 1 && g.groups == 1;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t pix = pix0 + t, img = pix / plane, p = (pix % plane) / g.wo, q = pix % g.wo;
    T* row = buf + t * taps;
    for (int64_t a = 0; a < g.kh; ++a) {
      T* out = row + a * g.kw * cg;
      const int64_t r = p * g.sh + a * g.dh - g.lo_h;
      if (r < 0 || r >= g.h) {
        for (int64_t j = 0; j < g.groups; ++j) zero(out + j * group_taps, g.kw * cg);
        continue;
      }
      T* xrow = x + (img * g.h + r) * g.w * g.c;
      const int64_t col0 = q * g.sw - g.lo_w;
      if (dense_row) {
        const int64_t first = std::clamp<int64_t>(-col0, 0, g.kw);
        const int64_t last = std::clamp<int64_t>(g.w - col0, first, g.kw);
        zero(out, first * g.c);
        move(out + first * g.c, xrow + (col0 + first) * g.c, (last - first) * g.c);
        zero(out + last * g.c, (g.kw - last) * g.c);
        continue;
      }
      for (int64_t b = 0; b < g.kw; ++b) {
        const int64_t col = col0 + b * g.dw;
        for (int64_t j = 0; j < g.groups; ++j) {
          T* patch = out + j * group_taps + b * cg;
          if (col >= 0 && col < g.w) {
            move(patch, xrow + col * g.c + j * cg, cg);
          } else {
            zero(patch, cg);
          }
        }
      }
    }
  }
}

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
              n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
              n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

// The calling thread's im2col buffer, grown on demand and kept for later calls.
template <typename T>
T* Scratch(int64_t size) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < size) buffer.resize(size);
  return buffer.data();
}

// Runs task(i) for i in [0, count): on the pool when the call is worth it, else in order here.
template <typename F>
void Spread(ffi::ThreadPool& pool, const Geometry& g, int64_t count, F task) {
  if (count == 1 || g.Flops() < kMinParallelFlops) {
    for (int64_t i = 0; i < count; ++i) task(i);
  } else {
    parallax::Parallel(pool, count, task);
  }
}

// Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016, "Fast Algorithms for
// Convolutional Neural Networks"): for a 3x3 kernel g at stride 1 and dilation 1, a 2x2 tile of
// output pixels from its 4x4 tile d of input pixels is
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A,
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1],
// summed over input channels: per element ξ of the 4x4 transformed tile, the tiles' transformed
// inputs V_ξ (tiles, c) times the transformed kernel U_ξ (c, o) is one GEMM, 16 multiplies per
// tile and channel pair where im2col takes 36. The transforms' entries are 0, ±1 and ±½: each adds
// only a few roundings, so the result stays within a few ulps of the direct sum.
struct Winograd {
  static bool Applies(const Geometry& g) {
    return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
           g.groups == 1 && g.c > 0;
  }
  // Tiles per block: the block's V (16 tiles c) and M (16 tiles o) stay in a core's L2.
  static int64_t BlockTiles(const Geometry& g, int64_t itemsize) {
    return std::max<int64_t>(8, kWinogradBlockBytes / (16 * (g.c + g.o) * itemsize));
  }
};

// U_ξ = (G g G^T)_ξ for every input and output channel: u (16, c, o) from the HWIO kernel.
template <typename T>
void WinogradKernel(const Geometry& g, const T* kernel, T* u) {
  static constexpr T kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  const int64_t size = g.c * g.o;
  std::fill(u, u + 16 * size, T(0));
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 4; ++j) {
      T* ui = u + (i * 4 + j) * size;
      for (int64_t a = 0; a < 3; ++a) {
        for (int64_t b = 0; b < 3; ++b) {
          const T f = kG[i][a] * kG[j][b];
          if (f == T(0)) continue;
          const T* tap = kernel + (a * 3 + b) * size;
          for (int64_t e = 0; e < size; ++e) ui[e] += f * tap[e];
        }
      }
    }
  }
}

// Four outputs from four inputs, elementwise over n: (a0 - a2, a1 + a2, a2 - a1, a1 - a3), the
// 1D transform B^T.
template <typename T>
inline __attribute__((always_inline)) void InputRows(int64_t n, const T* __restrict a0,
                                                     const T* __restrict a1,
                                                     const T* __restrict a2,
                                                     const T* __restrict a3, T* __restrict b0,
                                                     T* __restrict b1, T* __restrict b2,
                                                     T* __restrict b3) {
  for (int64_t e = 0; e < n; ++e) {
    b0[e] = a0[e] - a2[e];
    b1[e] = a1[e] + a2[e];
    b2[e] = a2[e] - a1[e];
    b3[e] = a1[e] - a3[e];
  }
}

// One tile's input transform: v[(4 i + j) stride + e] = (B^T d B)[i][j] for channel e, with
// d[i][j] = rows[i][j c + e]; r holds B^T d (16 c).
template <typename T>
inline __attribute__((always_inline)) void InputTile(const T* const* rows, int64_t c, T* r,
                                                     T* v, int64_t stride) {
  // the rows' combinations, four columns (4 c values) at a time
  InputRows(4 * c, rows[0], rows[1], rows[2], rows[3], r, r + 4 * c, r + 8 * c, r + 12 * c);
  for (int64_t i = 0; i < 4; ++i) {
    const T* ri = r + 4 * i * c;
    T* vi = v + 4 * i * stride;
    InputRows(c, ri, ri + c, ri + 2 * c, ri + 3 * c, vi, vi + stride, vi + 2 * stride,
              vi + 3 * stride);
  }
}

// One tile's output transform plus bias: out[i][j][e] = b[e] + (A^T m A)[i][j] for output
// channel e, with m[ξ] at m + ξ stride.
template <typename T>
inline __attribute__((always_inline)) void OutputTile(const T* __restrict m, int64_t stride,
                                                      const T* __restrict bias, int64_t o,
                                                      T* const* out) {
  T* __restrict y00 = out[0];
  T* __restrict y01 = out[1];
  T* __restrict y10 = out[2];
  T* __restrict y11 = out[3];
  for (int64_t e = 0; e < o; ++e) {
    T s[2][4];
    for (int i = 0; i < 4; ++i) {
      const T* __restrict mi = m + 4 * i * stride + e;
      s[0][i] = mi[0] + mi[stride] + mi[2 * stride];
      s[1][i] = mi[stride] - mi[2 * stride] - mi[3 * stride];
    }
    y00[e] = bias[e] + s[0][0] + s[0][1] + s[0][2];
    y10[e] = bias[e] + s[0][1] - s[0][2] - s[0][3];
    y01[e] = bias[e] + s[1][0] + s[1][1] + s[1][2];
    y11[e] = bias[e] + s[1][1] - s[1][2] - s[1][3];
  }
}

// The transforms over a block, compiled per instruction set (kernels/_isa.h).
#define PARALLAX_WINOGRAD_TRANSFORMS(T)                                                         \
  PARALLAX_HOST_ISA void InputTiles(const Geometry& g, const T* x, int64_t t0, int64_t count,  \
                                    T* pad, T* v) {                                             \
    InputTilesImpl(g, x, t0, count, pad, v);                                                    \
  }                                                                                             \
  PARALLAX_HOST_ISA void OutputTiles(const Geometry& g, const T* m, const T* bias, int64_t t0, \
                                     int64_t count, T* spare, T* y) {                           \
    OutputTilesImpl(g, m, bias, t0, count, spare, y);                                           \
  }

// The block's tiles [t0, t0 + count) into v (16, count, c): tiles inside x read it in place,
// the others a copy in pad (16 c) with zeros outside x; pad + 16 c holds B^T d (16 c).
template <typename T>
inline __attribute__((always_inline)) void InputTilesImpl(const Geometry& g, const T* x,
                                                          int64_t t0, int64_t count, T* pad,
                                                          T* v) {
  const int64_t c = g.c, tw = (g.wo + 1) / 2, plane = ((g.ho + 1) / 2) * tw;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = t0 + t, img = tile / plane;
    const int64_t row0 = 2 * ((tile % plane) / tw) - g.lo_h, col0 = 2 * (tile % tw) - g.lo_w;
    const T* rows[4];
    const T* base = x + ((img * g.h + row0) * g.w + col0) * c;
    if (row0 >= 0 && row0 + 4 <= g.h && col0 >= 0 && col0 + 4 <= g.w) {
      for (int64_t i = 0; i < 4; ++i) rows[i] = base + i * g.w * c;
    } else {
      const int64_t first = std::clamp<int64_t>(-col0, 0, 4);
      const int64_t last = std::clamp<int64_t>(g.w - col0, first, 4);
      for (int64_t i = 0; i < 4; ++i) {
        T* di = pad + 4 * i * c;
        rows[i] = di;
        const int64_t r = row0 + i;
        if (r < 0 || r >= g.h) {
          std::fill(di, di + 4 * c, T(0));
          continue;
        }
        const T* xrow = base + i * g.w * c;
        std::fill(di, di + first * c, T(0));
        std::copy(xrow + first * c, xrow + last * c, di + first * c);
        std::fill(di + last * c, di + 4 * c, T(0));
      }
    }
    InputTile(rows, c, pad + 16 * c, v + t * c, count * c);
  }
}

// y = A^T m A + bias for the block's tiles, m (16, count, o); the parts of a tile past the
// output's edge go to spare (4 o).
template <typename T>
inline __attribute__((always_inline)) void OutputTilesImpl(const Geometry& g, const T* m,
                                                           const T* bias, int64_t t0,
                                                           int64_t count, T* spare, T* y) {
  const int64_t o = g.o, tw = (g.wo + 1) / 2, plane = ((g.ho + 1) / 2) * tw;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = t0 + t, img = tile / plane;
    const int64_t p = 2 * ((tile % plane) / tw), q = 2 * (tile % tw);
    T* y00 = y + ((img * g.ho + p) * g.wo + q) * o;
    const bool right = q + 1 < g.wo, below = p + 1 < g.ho;
    T* out[4] = {y00, right ? y00 + o : spare, below ? y00 + g.wo * o : spare + o,
                 right && below ? y00 + (g.wo + 1) * o : spare + 2 * o};
    OutputTile(m + t * o, count * o, bias, o, out);
  }
}

PARALLAX_WINOGRAD_TRANSFORMS(float)
PARALLAX_WINOGRAD_TRANSFORMS(double)

template <typename T>
void WinogradForward(ffi::ThreadPool& pool, const Geometry& g, const T* x, const T* kernel,
                     const T* bias, T* y) {
  const int64_t c = g.c, o = g.o;
  std::vector<T> u(static_cast<size_t>(16 * c * o));
  WinogradKernel(g, kernel, u.data());
  const int64_t tiles = g.n * ((g.ho + 1) / 2) * ((g.wo + 1) / 2);
  const int64_t per = Winograd::BlockTiles(g, sizeof(T));
  Spread(pool, g, (tiles + per - 1) / per, [&](int64_t blk) {
    const int64_t t0 = blk * per, count = std::min(per, tiles - t0);
    // v (16, count, c), m (16, count, o), and a padded input tile or a tile's spare outputs
    T* v = Scratch<T>(16 * count * (c + o) + std::max(32 * c, 4 * o));
    T* m = v + 16 * count * c;
    T* pad = m + 16 * count * o;
    InputTiles(g, x, t0, count, pad, v);
    for (int64_t xi = 0; xi < 16; ++xi) {
      Gemm(false, false, count, o, c, v + xi * count * c, c, u.data() + xi * c * o, o, T(0),
           m + xi * count * o, o);
    }
    OutputTiles(g, m, bias, t0, count, pad, y);
  });
}

template <typename T>
void Forward(ffi::ThreadPool& pool, const Geometry& g, const T* x, const T* kernel,
             const T* bias, T* y) {
  if (Winograd::Applies(g)) {
    WinogradForward(pool, g, x, kernel, bias, y);
    return;
  }
  const int64_t taps = g.Taps(), pixels = g.Pixels(), per = g.BlockPixels(sizeof(T));
  const int64_t kg = g.GroupTaps(), og = g.o / g.groups;
  const bool pointwise = g.Pointwise();
  Spread(pool, g, (pixels + per - 1) / per, [&](int64_t i) {
    const int64_t pix0 = i * per, count = std::min(per, pixels - pix0);
    T* out = y + pix0 * g.o;
    for (int64_t t = 0; t < count; ++t) std::copy(bias, bias + g.o, out + t * g.o);
    if (taps == 0) return;
    const T* a = x + pix0 * g.c;  // im2col, row stride taps (= c when pointwise)
    if (!pointwise) {
      T* buf = Scratch<T>(count * taps);
      Patches<true>(g, const_cast<T*>(x), pix0, count, buf);
      a = buf;
    }
    for (int64_t j = 0; j < g.groups; ++j) {
      Gemm(false, false, count, og, kg, a + j * kg, taps, kernel + j * og, g.o, T(1),
           out + j * og, g.o);
    }
  });
}

template <typename T>
void Input(ffi::ThreadPool& pool, const Geometry& g, const T* dy, const T* kernel, T* dx) {
  const int64_t taps = g.Taps(), per = g.BlockPixels(sizeof(T));
  const int64_t kg = g.GroupTaps(), og = g.o / g.groups;
  if (g.Pointwise()) {  // x_bar = y_bar K^T, row by row
    const int64_t pixels = g.Pixels();
    Spread(pool, g, (pixels + per - 1) / per, [&](int64_t i) {
      const int64_t pix0 = i * per, count = std::min(per, pixels - pix0);
      for (int64_t j = 0; j < g.groups; ++j) {
        Gemm(false, true, count, kg, og, dy + pix0 * g.o + j * og, g.o, kernel + j * og, g.o,
             T(0), dx + pix0 * g.c + j * kg, g.c);
      }
    });
    return;
  }
  std::fill(dx, dx + g.n * g.h * g.w * g.c, T(0));
  if (taps == 0 || g.o == 0) return;
  // Bands of output rows whose patches cover input rows apart from the band after next's: rows
  // p of band i read up to ((i + 1) r - 1) s_h + (k_h - 1) d_h - lo_h, band i + 2 starts at
  // (i + 2) r s_h - lo_h. Even bands run at once, then odd ones.
  const int64_t reach = (g.kh - 1) * g.dh;
  const int64_t rows = std::max({int64_t{1}, reach >= g.sh ? (reach - g.sh) / g.sh + 1 : 1,
                                 (per + g.wo - 1) / std::max<int64_t>(1, g.wo)});
  const int64_t bands = (g.ho + rows - 1) / rows, plane = g.ho * g.wo;
  for (int64_t parity = 0; parity < 2; ++parity) {
    const int64_t per_image = (bands - parity + 1) / 2;
    if (per_image == 0) continue;
    Spread(pool, g, g.n * per_image, [&](int64_t task) {
      const int64_t img = task / per_image, band = 2 * (task % per_image) + parity;
      const int64_t end = img * plane + std::min(g.ho, (band + 1) * rows) * g.wo;
      for (int64_t pix0 = img * plane + band * rows * g.wo; pix0 < end; pix0 += per) {
        const int64_t count = std::min(per, end - pix0);
        T* buf = Scratch<T>(count * taps);
        for (int64_t j = 0; j < g.groups; ++j) {
          Gemm(false, true, count, kg, og, dy + pix0 * g.o + j * og, g.o, kernel + j * og, g.o,
               T(0), buf + j * kg, taps);
        }
        Patches<false>(g, dx, pix0, count, buf);
      }
    });
  }
}

template <typename T>
void Weight(ffi::ThreadPool& pool, const Geometry& g, const T* x, const T* dy, T* dk) {
  const int64_t taps = g.Taps(), pixels = g.Pixels(), per = g.BlockPixels(sizeof(T));
  const int64_t kg = g.GroupTaps(), og = g.o / g.groups, size = kg * g.o;
  std::fill(dk, dk + size, T(0));
  if (pixels == 0 || size == 0) return;
  const int64_t blocks = (pixels + per - 1) / per;
  const int64_t threads = std::max<int64_t>(1, pool.num_threads() + 1);
  const int64_t tasks = g.Flops() < kMinParallelFlops ? 1 : kTasksPerThread * threads;
  const int64_t per_task = (blocks + tasks - 1) / tasks;
  const int64_t used = (blocks + per_task - 1) / per_task;
  const bool pointwise = g.Pointwise();
  std::vector<T> partial(static_cast<size_t>((used - 1) * size), T(0));
  Spread(pool, g, used, [&](int64_t task) {
    T* acc = task == 0 ? dk : partial.data() + (task - 1) * size;
    const int64_t last = std::min(blocks, (task + 1) * per_task);
    for (int64_t i = task * per_task; i < last; ++i) {
      const int64_t pix0 = i * per, count = std::min(per, pixels - pix0);
      const T* a = x + pix0 * g.c;
      if (!pointwise) {
        T* buf = Scratch<T>(count * taps);
        Patches<true>(g, const_cast<T*>(x), pix0, count, buf);
        a = buf;
      }
      for (int64_t j = 0; j < g.groups; ++j) {
        Gemm(true, false, kg, og, count, a + j * kg, taps, dy + pix0 * g.o + j * og, g.o, T(1),
             acc + j * og, g.o);
      }
    }
  });
  for (int64_t task = 1; task < used; ++task) {
    const T* acc = partial.data() + (task - 1) * size;
    for (int64_t e = 0; e < size; ++e) dk[e] += acc[e];
  }
}

struct Attrs {
  int64_t sh, sw, lo_h, lo_w, dh, dw, groups;
};

// The geometry of x (n, h, w, c) convolved with a kernel (k_h, k_w, c / g, o) into y
// (n, h_out, w_out, o), or an error naming the handler.
ffi::Error Make(const char* name, ffi::Span<const int64_t> xd, ffi::Span<const int64_t> kd,
                ffi::Span<const int64_t> yd, const Attrs& at, Geometry& g) {
  auto error = [name](const char* what) {
    return ffi::Error::InvalidArgument(std::string(name) + ": " + what);
  };
  if (xd.size() != 4 || kd.size() != 4 || yd.size() != 4) {
    return error("expected NHWC operands and an HWIO kernel");
  }
  if (at.sh < 1 || at.sw < 1 || at.dh < 1 || at.dw < 1) {
    return error("strides and dilations must be positive");
  }
  if (at.groups < 1 || kd[2] * at.groups != xd[3] || kd[3] % at.groups != 0 ||
      yd[0] != xd[0] || yd[3] != kd[3]) {
    return error("operand shapes do not match");
  }
  g = Geometry{xd[0], xd[1], xd[2], xd[3], kd[0], kd[1], kd[3], yd[1],    yd[2],
               at.sh, at.sw, at.lo_h, at.lo_w, at.dh, at.dw, at.groups};
  return ffi::Error::Success();
}

// Runs run(T{}) for the buffers' common dtype, float32 or float64.
template <typename F>
ffi::Error ByType(const char* name, std::initializer_list<ffi::DataType> types, F run) {
  const ffi::DataType type = *types.begin();
  for (ffi::DataType t : types) {
    if (t != type) return ffi::Error::InvalidArgument(std::string(name) + ": operands differ in dtype");
  }
  if (type == ffi::DataType::F32) {
    run(float{});
  } else if (type == ffi::DataType::F64) {
    run(double{});
  } else {
    return ffi::Error::InvalidArgument(std::string(name) + ": expected float32 or float64");
  }
  return ffi::Error::Success();
}

template <typename T>
T* Data(ffi::AnyBuffer b) {
  return static_cast<T*>(b.untyped_data());
}

ffi::Error Conv(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer kernel, ffi::AnyBuffer bias,
                ffi::Result<ffi::AnyBuffer> y, int64_t sh, int64_t sw, int64_t lo_h, int64_t lo_w,
                int64_t dh, int64_t dw, int64_t groups) {
  constexpr const char* kName = "parallax_mkl_conv_2d";
  Geometry g;
  const Attrs at{sh, sw, lo_h, lo_w, dh, dw, groups};
  if (auto e = Make(kName, x.dimensions(), kernel.dimensions(), y->dimensions(), at, g);
      e.failure()) {
    return e;
  }
  if (bias.dimensions().size() != 1 || bias.dimensions()[0] != g.o) {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d: expected a bias of c_out values");
  }
  const auto types = {x.element_type(), kernel.element_type(), bias.element_type(),
                      y->element_type()};
  return ByType(kName, types, [&](auto tag) {
    using T = decltype(tag);
    if (g.Pixels() > 0 && g.o > 0) {
      Forward(pool, g, Data<const T>(x), Data<const T>(kernel), Data<const T>(bias),
              Data<T>(*y));
    }
  });
}

ffi::Error ConvInput(ffi::ThreadPool pool, ffi::AnyBuffer dy, ffi::AnyBuffer kernel,
                     ffi::Result<ffi::AnyBuffer> dx, int64_t sh, int64_t sw, int64_t lo_h,
                     int64_t lo_w, int64_t dh, int64_t dw, int64_t groups) {
  constexpr const char* kName = "parallax_mkl_conv_2d_input";
  Geometry g;
  const Attrs at{sh, sw, lo_h, lo_w, dh, dw, groups};
  if (auto e = Make(kName, dx->dimensions(), kernel.dimensions(), dy.dimensions(), at, g);
      e.failure()) {
    return e;
  }
  const auto types = {dy.element_type(), kernel.element_type(), dx->element_type()};
  return ByType(kName, types, [&](auto tag) {
    using T = decltype(tag);
    Input(pool, g, Data<const T>(dy), Data<const T>(kernel), Data<T>(*dx));
  });
}

ffi::Error ConvWeight(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer dy,
                      ffi::Result<ffi::AnyBuffer> dk, int64_t sh, int64_t sw, int64_t lo_h,
                      int64_t lo_w, int64_t dh, int64_t dw, int64_t groups) {
  constexpr const char* kName = "parallax_mkl_conv_2d_weight";
  Geometry g;
  const Attrs at{sh, sw, lo_h, lo_w, dh, dw, groups};
  if (auto e = Make(kName, x.dimensions(), dk->dimensions(), dy.dimensions(), at, g);
      e.failure()) {
    return e;
  }
  const auto types = {x.element_type(), dy.element_type(), dk->element_type()};
  return ByType(kName, types, [&](auto tag) {
    using T = decltype(tag);
    Weight(pool, g, Data<const T>(x), Data<const T>(dy), Data<T>(*dk));
  });
}

}  // namespace

// Every handler takes the convolution's parameters as these attributes.
#define PARALLAX_CONV_ATTRS(binding) \
  binding.Attr<int64_t>("stride_h")  \
      .Attr<int64_t>("stride_w")     \
      .Attr<int64_t>("pad_h")        \
      .Attr<int64_t>("pad_w")        \
      .Attr<int64_t>("dilation_h")   \
      .Attr<int64_t>("dilation_w")   \
      .Attr<int64_t>("groups")

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_conv_2d, Conv,
                              PARALLAX_CONV_ATTRS(ffi::Ffi::Bind()
                                                      .Ctx<ffi::ThreadPool>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Ret<ffi::AnyBuffer>()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_conv_2d_input, ConvInput,
                              PARALLAX_CONV_ATTRS(ffi::Ffi::Bind()
                                                      .Ctx<ffi::ThreadPool>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Ret<ffi::AnyBuffer>()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_conv_2d_weight, ConvWeight,
                              PARALLAX_CONV_ATTRS(ffi::Ffi::Bind()
                                                      .Ctx<ffi::ThreadPool>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Ret<ffi::AnyBuffer>()));
