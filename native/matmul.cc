// robustlab_matmul: a tiny N-API addon over OpenBLAS's cblas_sgemm, used by
// src/backend/native-matmul.ts to replace the wasm backend's BatchMatMul / _FusedMatMul kernels.
//
// Everything is row-major float32 and written in place into caller-owned memory (normally
// Float32Array views on the wasm heap, so nothing is copied). Plain node_api.h: no npm deps.
#define NAPI_VERSION 8
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <string>
#include <vector>

#include <dlfcn.h>

// OpenBLAS is loaded with dlopen() at module init rather than linked, so that we can pick its
// kernel set *before* it initialises: OpenBLAS 0.3.21 (Debian 12) does not know AMD Zen 4/5 and
// falls back to its AVX2 "Haswell" kernels on CPUs with AVX-512; its "SkylakeX" AVX-512 kernels
// are ~2x faster there. See InitOpenBlas(). The CBLAS ABI (enums are ints, 32-bit blasint in
// libopenblas.so.0; libopenblas64 is a different library) is stable, so no header is needed.
enum { RL_CblasRowMajor = 101 };
enum { RL_CblasNoTrans = 111, RL_CblasTrans = 112 };
typedef void (*sgemm_fn)(int order, int transA, int transB, int M, int N, int K, float alpha,
                         const float* A, int lda, const float* B, int ldb, float beta, float* C,
                         int ldc);
typedef void (*set_threads_fn)(int);
// LAPACK's dgesdd (bundled in OpenBLAS), Fortran calling convention: column-major, by pointer.
typedef void (*dgesdd_fn)(const char* jobz, const int* m, const int* n, double* a, const int* lda,
                          double* s, double* u, const int* ldu, double* vt, const int* ldvt,
                          double* work, const int* lwork, int* iwork, int* info);
typedef int (*get_threads_fn)(void);
typedef char* (*get_str_fn)(void);

namespace {

sgemm_fn cblas_sgemm = nullptr;
dgesdd_fn lapack_dgesdd = nullptr;
typedef void (*dgemm_fn)(int order, int transA, int transB, int M, int N, int K, double alpha,
                         const double* A, int lda, const double* B, int ldb, double beta,
                         double* C, int ldc);
dgemm_fn cblas_dgemm = nullptr;  // optional: absent in an OpenBLAS built without LAPACK
set_threads_fn openblas_set_num_threads = nullptr;
get_threads_fn openblas_get_num_threads = nullptr;
get_str_fn openblas_get_config = nullptr;
get_str_fn openblas_get_corename = nullptr;
std::string coretype_note;

bool HasAvx512() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd");
#else
  return false;
#endif
}

// Returns an error message, or "" on success. Idempotent and process-wide (dlopen is refcounted;
// OpenBLAS initialises once per process, so the first loader's choice of kernels wins).
std::string InitOpenBlas() {
  if (cblas_sgemm != nullptr) return "";
  // Kernel set: ROBUSTLAB_BLAS_CORETYPE = auto (default) | off | <OpenBLAS core name>.
  // auto: SkylakeX on CPUs with AVX-512, unless OPENBLAS_CORETYPE is already set (respected).
  // An explicit core name overrides OPENBLAS_CORETYPE.
  const char* want = std::getenv("ROBUSTLAB_BLAS_CORETYPE");
  std::string mode = want ? want : "auto";
  if (mode == "auto" || mode.empty()) {
    if (HasAvx512()) setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
  } else if (mode != "off" && mode != "none") {
    setenv("OPENBLAS_CORETYPE", mode.c_str(), 1);
  }
  const char* names[] = {std::getenv("ROBUSTLAB_OPENBLAS_LIB"), "libopenblas.so.0", "libopenblas.so",
                         "libopenblas.0.dylib", "libopenblas.dylib",
                         "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
                         "/usr/local/opt/openblas/lib/libopenblas.dylib"};
  void* lib = nullptr;
  std::string err;
  for (const char* name : names) {
    if (name == nullptr || *name == 0) continue;
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) break;
    if (err.empty()) err = dlerror();
  }
  if (lib == nullptr) return "cannot load OpenBLAS: " + err;
  auto sgemm = reinterpret_cast<sgemm_fn>(dlsym(lib, "cblas_sgemm"));
  auto set = reinterpret_cast<set_threads_fn>(dlsym(lib, "openblas_set_num_threads"));
  auto get = reinterpret_cast<get_threads_fn>(dlsym(lib, "openblas_get_num_threads"));
  auto cfg = reinterpret_cast<get_str_fn>(dlsym(lib, "openblas_get_config"));
  auto core = reinterpret_cast<get_str_fn>(dlsym(lib, "openblas_get_corename"));
  if (!sgemm || !set || !get) return "the loaded library is not OpenBLAS (missing cblas_sgemm)";
  openblas_set_num_threads = set;
  openblas_get_num_threads = get;
  openblas_get_config = cfg;
  openblas_get_corename = core;
  cblas_sgemm = sgemm;
  lapack_dgesdd = reinterpret_cast<dgesdd_fn>(dlsym(lib, "dgesdd_"));
  cblas_dgemm = reinterpret_cast<dgemm_fn>(dlsym(lib, "cblas_dgemm"));
  return "";
}

napi_value Throw(napi_env env, const std::string& msg) {
  napi_throw_type_error(env, nullptr, ("robustlab_matmul: " + msg).c_str());
  return nullptr;
}

bool GetBool(napi_env env, napi_value v, bool* out) {
  return napi_get_value_bool(env, v, out) == napi_ok;
}

bool GetInt(napi_env env, napi_value v, int64_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > 2147483647.0) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool IsNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return true;
  return t == napi_undefined || t == napi_null;
}

// A typed array's data pointer and length (elements), if it has the expected element type and
// is not detached. Works for views on the wasm heap (ArrayBuffer or SharedArrayBuffer).
template <typename T>
bool GetTyped(napi_env env, napi_value v, napi_typedarray_type want, T** data, size_t* length) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  napi_typedarray_type type;
  void* ptr = nullptr;
  size_t len = 0;
  if (napi_get_typedarray_info(env, v, &type, &len, &ptr, nullptr, nullptr) != napi_ok) return false;
  if (type != want || (len > 0 && ptr == nullptr)) return false;
  *data = static_cast<T*>(ptr);
  *length = len;
  return true;
}

bool GetF32(napi_env env, napi_value v, float** data, size_t* length) {
  return GetTyped(env, v, napi_float32_array, data, length);
}

bool GetF64(napi_env env, napi_value v, double** data, size_t* length) {
  return GetTyped(env, v, napi_float64_array, data, length);
}

// sgemm(transA, transB, M, N, K, A, B, C, batch = 1, strideA = M*K, strideB = K*N,
//       strideC = M*N, bias = null, activation = 0)
//   For i in [0, batch): C_i = act(op(A_i) · op(B_i) + bias), with A_i = A + i*strideA etc.
//   (a stride of 0 broadcasts that operand). op(A_i) is M×K, op(B_i) is K×N, C_i is M×N,
//   all row-major. bias: Float32Array of length N (per column) or 1 (scalar), or null.
//   activation: 0 = linear, 1 = relu.
// max(c, 0) in place; vectorised (a plain loop here compiled to branches: 0.8 ms per 256k).
void ReluInPlace(float* __restrict c, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; j++) c[j] = c[j] > 0.0f ? c[j] : 0.0f;
}

napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  if (argc < 8) return Throw(env, "sgemm needs at least 8 arguments");
  bool ta, tb;
  int64_t M, N, K;
  if (!GetBool(env, argv[0], &ta) || !GetBool(env, argv[1], &tb))
    return Throw(env, "transA/transB must be booleans");
  if (!GetInt(env, argv[2], &M) || !GetInt(env, argv[3], &N) || !GetInt(env, argv[4], &K))
    return Throw(env, "M, N, K must be non-negative int32 integers");
  float *A, *B, *C;
  size_t lenA, lenB, lenC;
  if (!GetF32(env, argv[5], &A, &lenA) || !GetF32(env, argv[6], &B, &lenB) ||
      !GetF32(env, argv[7], &C, &lenC))
    return Throw(env, "A, B, C must be (attached) Float32Arrays");
  int64_t batch = 1, sA = M * K, sB = K * N, sC = M * N;
  if (argc > 8 && !IsNullish(env, argv[8]) && !GetInt(env, argv[8], &batch))
    return Throw(env, "batch must be a non-negative integer");
  if (argc > 9 && !IsNullish(env, argv[9]) && !GetInt(env, argv[9], &sA))
    return Throw(env, "strideA must be a non-negative integer");
  if (argc > 10 && !IsNullish(env, argv[10]) && !GetInt(env, argv[10], &sB))
    return Throw(env, "strideB must be a non-negative integer");
  if (argc > 11 && !IsNullish(env, argv[11]) && !GetInt(env, argv[11], &sC))
    return Throw(env, "strideC must be a non-negative integer");
  float* bias = nullptr;
  size_t lenBias = 0;
  if (argc > 12 && !IsNullish(env, argv[12])) {
    if (!GetF32(env, argv[12], &bias, &lenBias)) return Throw(env, "bias must be a Float32Array or null");
    if (lenBias != 1 && static_cast<int64_t>(lenBias) != N)
      return Throw(env, "bias length must be N or 1");
  }
  int64_t act = 0;
  if (argc > 13 && !IsNullish(env, argv[13]) && (!GetInt(env, argv[13], &act) || act > 1))
    return Throw(env, "activation must be 0 (linear) or 1 (relu)");

  // Bounds: every batch's operands must lie inside the given views (no heap overruns).
  if (batch == 0 || M == 0 || N == 0) return nullptr;
  const int64_t last = batch - 1;
  if (last * sA + M * K > static_cast<int64_t>(lenA)) return Throw(env, "A is too short");
  if (last * sB + K * N > static_cast<int64_t>(lenB)) return Throw(env, "B is too short");
  if (last * sC + M * N > static_cast<int64_t>(lenC)) return Throw(env, "C is too short");
  if (sC < M * N && batch > 1) return Throw(env, "strideC must be at least M*N");

  const int lda = static_cast<int>(ta ? M : K);
  const int ldb = static_cast<int>(tb ? K : N);
  const int ldc = static_cast<int>(N);
  for (int64_t i = 0; i < batch; i++) {
    float* c = C + i * sC;
    float beta = 0.0f;
    if (bias != nullptr) {
      // Seed C with the bias and accumulate the product into it (beta = 1).
      if (lenBias == 1) {
        const float v = bias[0];
        for (int64_t j = 0; j < M * N; j++) c[j] = v;
      } else {
        for (int64_t r = 0; r < M; r++) std::memcpy(c + r * N, bias, sizeof(float) * N);
      }
      beta = 1.0f;
    }
    if (K == 0) {
      if (bias == nullptr) std::memset(c, 0, sizeof(float) * M * N);
    } else {
      cblas_sgemm(RL_CblasRowMajor, ta ? RL_CblasTrans : RL_CblasNoTrans,
                  tb ? RL_CblasTrans : RL_CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
                  static_cast<int>(K), 1.0f, A + i * sA, lda, B + i * sB, ldb, beta, c, ldc);
    }
    if (act == 1) ReluInPlace(c, M * N);
  }
  return nullptr;
}


// dgesdd(m, n, a, s, u, vt): thin SVD of the column-major m×n matrix a (overwritten), into
// s (k = min(m, n)), u (m×k, column-major) and vt (k×n, column-major). Returns LAPACK's info.
napi_value Dgesdd(napi_env env, napi_callback_info info) {
  if (!lapack_dgesdd) return Throw(env, "this OpenBLAS has no LAPACK dgesdd");
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 6)
    return Throw(env, "dgesdd needs (m, n, a, s, u, vt)");
  int64_t m, n;
  double *a, *s, *u, *vt;
  size_t la, ls, lu, lvt;
  if (!GetInt(env, argv[0], &m) || !GetInt(env, argv[1], &n) || m < 1 || n < 1)
    return Throw(env, "dgesdd: m and n must be positive integers");
  if (!GetF64(env, argv[2], &a, &la) || !GetF64(env, argv[3], &s, &ls) ||
      !GetF64(env, argv[4], &u, &lu) || !GetF64(env, argv[5], &vt, &lvt))
    return Throw(env, "dgesdd: a, s, u, vt must be Float64Arrays");
  const int64_t k = std::min(m, n);
  if (la < static_cast<size_t>(m * n) || ls < static_cast<size_t>(k) ||
      lu < static_cast<size_t>(m * k) || lvt < static_cast<size_t>(k * n))
    return Throw(env, "dgesdd: arrays too small for the shape");
  const char jobz = 'S';
  const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
  int lwork = -1, status = 0;
  double query = 0;
  std::vector<int> iwork(8 * k);
  lapack_dgesdd(&jobz, &mi, &ni, a, &mi, s, u, &mi, vt, &ki, &query, &lwork, iwork.data(), &status);
  if (status != 0) return Throw(env, "dgesdd workspace query failed");
  lwork = static_cast<int>(query);
  std::vector<double> work(std::max(1, lwork));
  lapack_dgesdd(&jobz, &mi, &ni, a, &mi, s, u, &mi, vt, &ki, work.data(), &lwork, iwork.data(), &status);
  napi_value out;
  napi_create_int32(env, status, &out);
  return out;
}

// --- element-wise kernels (fused passes that replace chains of small wasm kernels) ----------
// Written branch-free over plain float arrays so that -O3 vectorises them; no libm calls.

// exp(x) for x <= 0 (clamped at -87): Cody–Waite range reduction and a degree-6 polynomial,
// ~1 ulp in float32.
inline float ExpNeg(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float t = x * 1.44269504088896341f;
  const float n = static_cast<float>(static_cast<int32_t>(t - 0.5f));  // round(t), as t <= 0
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, 4);
  return p * scale;
}
// log(1 + e) for e in [0, 1]: 2·atanh(s), s = e / (2 + e) <= 1/3, odd series to s^17.
inline float Log1pUnit(float e) {
  const float s = e / (2.0f + e);
  const float s2 = s * s;
  float q = 1.0f / 17;
  q = q * s2 + 1.0f / 15;
  q = q * s2 + 1.0f / 13;
  q = q * s2 + 1.0f / 11;
  q = q * s2 + 1.0f / 9;
  q = q * s2 + 1.0f / 7;
  q = q * s2 + 1.0f / 5;
  q = q * s2 + 1.0f / 3;
  q = q * s2 + 1.0f;
  return 2.0f * s * q;
}
// Σ v[0..w) in 16 lanes (lane k sums v[k], v[k + 16], ...), then the lanes in order: the
// same numbers on every instruction set, and vectorised, where one serial sum was a chain of
// dependent adds (784 per row: ~0.6 ms of sigmoidDist's 0.87 ms on 1000 × 784).
inline float LaneSum(const float* __restrict v, int64_t w) {
  float acc[16] = {0.0f};
  int64_t j = 0;
  for (; j + 16 <= w; j += 16)
    for (int k = 0; k < 16; k++) acc[k] += v[j + k];
  for (int k = 0; j < w; j++, k++) acc[k] += v[j];
  float s = 0.0f;
  for (int k = 0; k < 16; k++) s += acc[k];
  return s;
}
// The fused pass, compiled for AVX-512, AVX2 and baseline x86-64 (picked at load time). The
// selects are if-converted (so the loop vectorises) only with -fno-trapping-math and without
// -fno-exceptions (binding.gyp): 0.17 ms vs 1.6 ms for 256×784 here.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void BceRows(const float* __restrict l, const float* __restrict x, float* __restrict loss, float* __restrict grad, int64_t rows, int64_t cols) {
  constexpr int64_t kChunk = 256;
  float tm[kChunk];
  for (int64_t i = 0; i < rows; i++) {
    float s = 0.0f;
    for (int64_t c0 = 0; c0 < cols; c0 += kChunk) {
      const int64_t w = cols - c0 < kChunk ? cols - c0 : kChunk;
      const float* __restrict li = l + i * cols + c0;
      const float* __restrict xi = x + i * cols + c0;
      float* __restrict gi = grad + i * cols + c0;
      for (int64_t j = 0; j < w; j++) {
        const float a = li[j];
        const float e = ExpNeg(a < 0.0f ? a : -a);  // exp(-|a|)
        const float pos = a > 0.0f ? a : 0.0f;
        tm[j] = pos - a * xi[j] + Log1pUnit(e);
        gi[j] = (a >= 0.0f ? 1.0f : e) / (1.0f + e) - xi[j];
      }
      s += LaneSum(tm, w);
    }
    loss[i] = s;
  }
}

// (σ(hp) − σ(hm)) / h2, element-wise: a central difference of the decoder's sigmoid output
// from the logits at z ± ε·e_i, the projection Jacobian's columns (latent/pipeline.ts).
// σ as in SigmoidDistRows.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void SigmoidCentralDiffLoop(const float* __restrict hp, const float* __restrict hm,
                            float* __restrict out, int64_t n, float h2) {
  for (int64_t j = 0; j < n; j++) {
    const float a = hp[j];
    const float ea = ExpNeg(a < 0.0f ? a : -a);
    const float sa = (a >= 0.0f ? 1.0f : ea) / (1.0f + ea);
    const float b = hm[j];
    const float eb = ExpNeg(b < 0.0f ? b : -b);
    const float sb = (b >= 0.0f ? 1.0f : eb) / (1.0f + eb);
    out[j] = (sa - sb) / h2;
  }
}

napi_value SigmoidCentralDiff(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 5)
    return Throw(env, "sigmoidCentralDiff needs (hp, hm, out, n, h2)");
  float *hp, *hm, *out;
  size_t np, nm, no;
  if (!GetF32(env, argv[0], &hp, &np) || !GetF32(env, argv[1], &hm, &nm) ||
      !GetF32(env, argv[2], &out, &no))
    return Throw(env, "sigmoidCentralDiff: hp, hm, out must be Float32Arrays");
  int64_t n;
  double h2;
  if (!GetInt(env, argv[3], &n) || static_cast<size_t>(n) > np || static_cast<size_t>(n) > nm ||
      static_cast<size_t>(n) > no)
    return Throw(env, "sigmoidCentralDiff: n must be a non-negative integer within the arrays");
  if (napi_get_value_double(env, argv[4], &h2) != napi_ok || !std::isfinite(h2) || h2 == 0.0)
    return Throw(env, "sigmoidCentralDiff: h2 must be a finite non-zero number");
  SigmoidCentralDiffLoop(hp, hm, out, n, static_cast<float>(h2));
  return nullptr;
}

// bceLogits(l, x, rowLoss, grad, rows, cols): per row i, rowLoss[i] = Σ_j softplus(l) − x·l
// (binary cross-entropy of x against sigmoid(l), summed over the row), and
// grad = sigmoid(l) − x (its derivative in l). Stable for any l.
napi_value BceLogits(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 6)
    return Throw(env, "bceLogits needs (l, x, rowLoss, grad, rows, cols)");
  float *l, *x, *loss, *grad;
  size_t nl, nx, nloss, ngrad;
  int64_t rows, cols;
  if (!GetF32(env, argv[0], &l, &nl) || !GetF32(env, argv[1], &x, &nx) ||
      !GetF32(env, argv[2], &loss, &nloss) || !GetF32(env, argv[3], &grad, &ngrad))
    return Throw(env, "bceLogits: l, x, rowLoss, grad must be Float32Arrays");
  if (!GetInt(env, argv[4], &rows) || !GetInt(env, argv[5], &cols))
    return Throw(env, "bceLogits: rows and cols must be non-negative integers");
  const size_t n = static_cast<size_t>(rows * cols);
  if (nl < n || nx < n || ngrad < n || nloss < static_cast<size_t>(rows))
    return Throw(env, "bceLogits: arrays too small for the shape");
  BceRows(l, x, loss, grad, rows, cols);
  return nullptr;
}

// Per row i: rowLoss[i] = Σ_j |σ(h) − x|^p (p = 1 or 2) and grad = ∂/∂h = p'(σ − x)·σ(1 − σ),
// p' = sign for p = 1 (0 at 0, as tf.abs's gradient), 2(σ − x) for p = 2: the projection
// objective ||D(z) − x||_p^p through the decoder's sigmoid output, fused.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void SigmoidDistRows(const float* __restrict h, const float* __restrict x, float* __restrict loss,
                     float* __restrict grad, int64_t rows, int64_t cols, int p) {
  constexpr int64_t kChunk = 256;
  float tm[kChunk];
  for (int64_t i = 0; i < rows; i++) {
    float s = 0.0f;
    for (int64_t c0 = 0; c0 < cols; c0 += kChunk) {
      const int64_t w = cols - c0 < kChunk ? cols - c0 : kChunk;
      const float* __restrict hi = h + i * cols + c0;
      const float* __restrict xi = x + i * cols + c0;
      float* __restrict gi = grad + i * cols + c0;
      for (int64_t j = 0; j < w; j++) {
        const float a = hi[j];
        const float e = ExpNeg(a < 0.0f ? a : -a);  // exp(-|a|)
        const float sig = (a >= 0.0f ? 1.0f : e) / (1.0f + e);
        const float d = sig - xi[j];
        const float ad = d < 0.0f ? -d : d;
        const float sgn = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
        tm[j] = p == 1 ? ad : d * d;
        gi[j] = (p == 1 ? sgn : 2.0f * d) * sig * (1.0f - sig);
      }
      s += LaneSum(tm, w);
    }
    loss[i] = s;
  }
}

// sigmoidDist(h, x, rowLoss, grad, rows, cols, p): see SigmoidDistRows.
napi_value SigmoidDist(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 7)
    return Throw(env, "sigmoidDist needs (h, x, rowLoss, grad, rows, cols, p)");
  float *h, *x, *loss, *grad;
  size_t nh, nx, nloss, ngrad;
  int64_t rows, cols, p;
  if (!GetF32(env, argv[0], &h, &nh) || !GetF32(env, argv[1], &x, &nx) ||
      !GetF32(env, argv[2], &loss, &nloss) || !GetF32(env, argv[3], &grad, &ngrad))
    return Throw(env, "sigmoidDist: h, x, rowLoss, grad must be Float32Arrays");
  if (!GetInt(env, argv[4], &rows) || !GetInt(env, argv[5], &cols) || !GetInt(env, argv[6], &p) ||
      (p != 1 && p != 2))
    return Throw(env, "sigmoidDist: rows, cols must be non-negative integers and p 1 or 2");
  const size_t n = static_cast<size_t>(rows * cols);
  if (nh < n || nx < n || ngrad < n || nloss < static_cast<size_t>(rows))
    return Throw(env, "sigmoidDist: arrays too small for the shape");
  SigmoidDistRows(h, x, loss, grad, rows, cols, static_cast<int>(p));
  return nullptr;
}

// reluMask(g, h, n): g[i] = 0 where h[i] <= 0 (or NaN), in place: the ReLU's backward pass
// given its output h (h > 0 exactly where the pre-activation was > 0).
napi_value ReluMask(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3)
    return Throw(env, "reluMask needs (g, h, n)");
  float *g, *h;
  size_t ng, nh;
  int64_t n;
  if (!GetF32(env, argv[0], &g, &ng) || !GetF32(env, argv[1], &h, &nh))
    return Throw(env, "reluMask: g and h must be Float32Arrays");
  if (!GetInt(env, argv[2], &n) || static_cast<size_t>(n) > ng || static_cast<size_t>(n) > nh)
    return Throw(env, "reluMask: n must be a non-negative integer within both arrays");
#pragma omp simd
  for (int64_t i = 0; i < n; i++) g[i] = h[i] > 0.0f ? g[i] : 0.0f;
  return nullptr;
}

// Shared argument parsing of the in-place loops below: (a, [b,] n, scalar).
bool GetLoopArgs(napi_env env, napi_callback_info info, const char* name, size_t arrays,
                 float** a, float** b, int64_t* n, float* s) {
  size_t argc = 4;
  napi_value argv[4];
  const size_t want = arrays + 2;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) {
    Throw(env, std::string(name) + (arrays == 2 ? " needs (g, h, n, alpha)" : " needs (x, n, s)"));
    return false;
  }
  size_t la = 0, lb = 0;
  if (!GetF32(env, argv[0], a, &la) || (arrays == 2 && !GetF32(env, argv[1], b, &lb))) {
    Throw(env, std::string(name) + ": arrays must be Float32Arrays");
    return false;
  }
  if (arrays == 1) lb = la;
  if (!GetInt(env, argv[arrays], n) || static_cast<size_t>(*n) > la ||
      static_cast<size_t>(*n) > lb) {
    Throw(env, std::string(name) + ": n must be a non-negative integer within the arrays");
    return false;
  }
  double d;
  if (napi_get_value_double(env, argv[arrays + 1], &d) != napi_ok || !std::isfinite(d)) {
    Throw(env, std::string(name) + ": the scalar must be a finite number");
    return false;
  }
  *s = static_cast<float>(d);
  return true;
}

// leakyRelu(h, n, alpha): h[i] = h[i] < 0 ? alpha·h[i] : h[i], in place (tfjs-backend-wasm's
// LeakyRelu, float32 alpha).
napi_value LeakyRelu(napi_env env, napi_callback_info info) {
  float *h, *unused = nullptr;
  int64_t n;
  float alpha;
  if (!GetLoopArgs(env, info, "leakyRelu", 1, &h, &unused, &n, &alpha)) return nullptr;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) h[i] = h[i] < 0.0f ? alpha * h[i] : h[i];
  return nullptr;
}

// leakyReluBackward(g, h, n, alpha): g[i] = h[i] > 0 ? g[i] : alpha·g[i], in place: the leaky
// ReLU's backward pass given its output h (h > 0 exactly where the pre-activation was > 0, as
// alpha > 0), as tfjs's gradient where(x > 0, dy, dy·alpha).
napi_value LeakyReluBackward(napi_env env, napi_callback_info info) {
  float *g, *h;
  int64_t n;
  float alpha;
  if (!GetLoopArgs(env, info, "leakyReluBackward", 2, &g, &h, &n, &alpha)) return nullptr;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) g[i] = h[i] > 0.0f ? g[i] : alpha * g[i];
  return nullptr;
}

// scale(x, n, s): x[i] *= s for i < n, in place (float32 s).
napi_value Scale(napi_env env, napi_callback_info info) {
  float *x, *unused = nullptr;
  int64_t n;
  float s;
  if (!GetLoopArgs(env, info, "scale", 1, &x, &unused, &n, &s)) return nullptr;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) x[i] *= s;
  return nullptr;
}

// adam(p, m, v, g, pOut, mOut, vOut, lr, beta1, beta2, epsilon, c1, c2): one Adam step,
// element-wise, as tf.train.adam computes it (c1, c2 = the bias corrections 1 − βᵗ).
napi_value Adam(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 13)
    return Throw(env, "adam needs (p, m, v, g, pOut, mOut, vOut, lr, beta1, beta2, eps, c1, c2)");
  float* a[7];
  size_t len[7];
  for (int k = 0; k < 7; k++)
    if (!GetF32(env, argv[k], &a[k], &len[k])) return Throw(env, "adam: arrays must be Float32Arrays");
  for (int k = 1; k < 7; k++)
    if (len[k] != len[0]) return Throw(env, "adam: arrays must have one length");
  double h[6];
  for (int k = 0; k < 6; k++)
    if (napi_get_value_double(env, argv[7 + k], &h[k]) != napi_ok || !std::isfinite(h[k]))
      return Throw(env, "adam: hyper-parameters must be finite numbers");
  const float lr = h[0], b1 = h[1], b2 = h[2], eps = h[3], c1 = h[4], c2 = h[5];
  // 1 − β in double, then rounded (as tfjs does): 1.0f − 0.999f would be 0.00099998713.
  const float g1 = static_cast<float>(1.0 - h[1]), g2 = static_cast<float>(1.0 - h[2]);
  const float *p = a[0], *m = a[1], *v = a[2], *g = a[3];
  float *po = a[4], *mo = a[5], *vo = a[6];
  const size_t n = len[0];
#pragma omp simd
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + g1 * gi;
    const float vi = b2 * v[i] + g2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    po[i] = p[i] - (lr * (mi / c1)) / (std::sqrt(vi / c2) + eps);
  }
  return nullptr;
}

// The call's arguments into argv (the missing ones undefined); false, with a TypeError thrown,
// when there are fewer than `min`.
template <size_t N>
bool CallArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N], size_t* argc,
              size_t min, const char* usage) {
  *argc = N;
  if (napi_get_cb_info(env, info, argc, argv, nullptr, nullptr) == napi_ok && *argc >= min)
    return true;
  Throw(env, usage);
  return false;
}

// gatherRows(src, dim, idx, start, end, dst, ySrc = null, yDst = null): row r of dst (and label
// r of yDst) = row idx[start + r] of src (of ySrc), for r < end − start. Every index is checked.
// A mini-batch's rows in one call: the JS loop took ~0.2–0.35 ms per 1000 random rows of 32-d
// codes, once per model and step (src/models/native-fit.ts).
napi_value GatherRows(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  size_t argc = 0;
  if (!CallArgs(env, info, argv, &argc, 6, "gatherRows needs (src, dim, idx, start, end, dst[, ySrc, yDst])"))
    return nullptr;
  float* src = nullptr;
  float* dst = nullptr;
  int32_t* idx = nullptr;
  size_t lsrc = 0, ldst = 0, lidx = 0;
  int64_t dim = 0, start = 0, end = 0;
  if (!GetF32(env, argv[0], &src, &lsrc) || !GetF32(env, argv[5], &dst, &ldst))
    return Throw(env, "gatherRows: src and dst must be Float32Arrays");
  if (!GetTyped(env, argv[2], napi_int32_array, &idx, &lidx))
    return Throw(env, "gatherRows: idx must be an Int32Array");
  if (!GetInt(env, argv[1], &dim) || dim < 1 || !GetInt(env, argv[3], &start) ||
      !GetInt(env, argv[4], &end) || end < start || static_cast<size_t>(end) > lidx)
    return Throw(env, "gatherRows: dim ≥ 1 and start ≤ end ≤ idx.length must be integers");
  const int64_t rows = static_cast<int64_t>(lsrc) / dim, n = end - start;
  if (n * dim > static_cast<int64_t>(ldst)) return Throw(env, "gatherRows: dst is too short");
  int32_t *ySrc = nullptr, *yDst = nullptr;
  size_t lys = 0, lyd = 0;
  if (!IsNullish(env, argv[6])) {
    if (!GetTyped(env, argv[6], napi_int32_array, &ySrc, &lys) ||
        !GetTyped(env, argv[7], napi_int32_array, &yDst, &lyd))
      return Throw(env, "gatherRows: ySrc and yDst must be Int32Arrays");
    if (static_cast<int64_t>(lys) < rows || static_cast<int64_t>(lyd) < n)
      return Throw(env, "gatherRows: ySrc or yDst is too short");
  }
  for (int64_t r = 0; r < n; r++) {
    const int64_t j = idx[start + r];
    if (j < 0 || j >= rows) return Throw(env, "gatherRows: an index is outside src");
  }
  for (int64_t r = 0; r < n; r++) {
    const int64_t j = idx[start + r];
    std::memcpy(dst + r * dim, src + j * dim, sizeof(float) * dim);
    if (yDst) yDst[r] = ySrc[j];
  }
  return nullptr;
}

// dgemmAcc(M, N, K, A, B, C): C += A·B, float64, row-major; A is M×K, B K×N, C M×N.
// (The spectral defence's rank-k corrections W + U_k diag(c) V_kᵀ.)
napi_value DgemmAcc(napi_env env, napi_callback_info info) {
  if (!cblas_dgemm) return Throw(env, "this OpenBLAS has no cblas_dgemm");
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 6)
    return Throw(env, "dgemmAcc needs (M, N, K, A, B, C[, lda])");
  int64_t M, N, K;
  double *A, *B, *C;
  size_t la, lb, lc;
  if (!GetInt(env, argv[0], &M) || !GetInt(env, argv[1], &N) || !GetInt(env, argv[2], &K))
    return Throw(env, "dgemmAcc: M, N, K must be non-negative integers");
  if (!GetF64(env, argv[3], &A, &la) || !GetF64(env, argv[4], &B, &lb) ||
      !GetF64(env, argv[5], &C, &lc))
    return Throw(env, "dgemmAcc: A, B, C must be Float64Arrays");
  // lda: A's row stride (default K), so that A can be a block of columns of a wider matrix.
  int64_t lda = K;
  if (argc > 6 && !IsNullish(env, argv[6]) && (!GetInt(env, argv[6], &lda) || lda < K))
    return Throw(env, "dgemmAcc: lda must be an integer >= K");
  if (M == 0 || N == 0 || K == 0) return nullptr;
  if (la < static_cast<size_t>((M - 1) * lda + K) || lb < static_cast<size_t>(K * N) ||
      lc < static_cast<size_t>(M * N))
    return Throw(env, "dgemmAcc: arrays too small for the shape");
  cblas_dgemm(RL_CblasRowMajor, RL_CblasNoTrans, RL_CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), 1.0, A, static_cast<int>(lda), B,
              static_cast<int>(N), 1.0, C, static_cast<int>(N));
  return nullptr;
}

// The targeted CE + L2 attack's step after the backward pass, fused (src/attacks/fused-ce-l2.ts).
// Per row i, with D = x − x0 and g holding ∇x CE on entry:
//   g ← g + (λ / (2·sqrt(Σ D² + distEps)))·(2D)             (the L2 term's gradient, added to g)
//   u = −α·g / sqrt(Σ g² + normEps) (mode 0, NGD) or −α·g (mode 1, SGD)
//   xOut = clamp(x + u)                                     (a side is skipped when its bound is NaN)
// Every operation is one float32 operation in the order the tfjs ops of targeted-ce-l2.ts run
// (sub, square, sum, add, sqrt, mul 2, div, mul; sums sequential, left to right, like the wasm
// backend's Sum): no target_clones and no -march, so no FMA contraction changes a rounding.
void AttackStepRows(const float* __restrict x, const float* __restrict x0, float* __restrict g,
                    float* __restrict xOut, int64_t rows, int64_t cols, float lambda,
                    float negStep, int mode, float distEps, float normEps, float lo, float hi) {
  const bool hasLo = !std::isnan(lo), hasHi = !std::isnan(hi);
  for (int64_t i = 0; i < rows; i++) {
    const float* xi = x + i * cols;
    const float* x0i = x0 + i * cols;
    float* gi = g + i * cols;
    float* oi = xOut + i * cols;
    float r = 0.0f;
    for (int64_t j = 0; j < cols; j++) {
      const float d = xi[j] - x0i[j];
      const float sq = d * d;
      r += sq;
    }
    const float den = std::sqrt(r + distEps) * 2.0f;
    const float gr = lambda / den;
#pragma omp simd
    for (int64_t j = 0; j < cols; j++) {
      const float d2 = (xi[j] - x0i[j]) * 2.0f;
      const float dd = gr * d2;
      gi[j] = gi[j] + dd;
    }
    float scale = 0.0f;
    if (mode == 0) {
      float s = 0.0f;
      for (int64_t j = 0; j < cols; j++) {
        const float q = gi[j] * gi[j];
        s += q;
      }
      scale = std::sqrt(s + normEps);
    }
    for (int64_t j = 0; j < cols; j++) {
      const float u = mode == 0 ? (gi[j] / scale) * negStep : gi[j] * negStep;
      float v = xi[j] + u;
      if (hasLo) v = v > lo ? v : lo;
      if (hasHi) v = v < hi ? v : hi;
      oi[j] = v;
    }
  }
}

// attackStep(x, x0, g, xOut, rows, cols, lambda, stepSize, mode, distEps, normEps, lo, hi):
// see AttackStepRows (stepSize > 0; lo/hi NaN = no bound).
napi_value AttackStep(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 13)
    return Throw(env, "attackStep needs (x, x0, g, xOut, rows, cols, lambda, stepSize, mode, distEps, normEps, lo, hi)");
  float* a[4];
  size_t len[4];
  for (int k = 0; k < 4; k++)
    if (!GetF32(env, argv[k], &a[k], &len[k]))
      return Throw(env, "attackStep: x, x0, g, xOut must be Float32Arrays");
  int64_t rows, cols, mode;
  if (!GetInt(env, argv[4], &rows) || !GetInt(env, argv[5], &cols) || !GetInt(env, argv[8], &mode) ||
      mode > 1)
    return Throw(env, "attackStep: rows, cols must be non-negative integers and mode 0 or 1");
  const size_t n = static_cast<size_t>(rows * cols);
  for (int k = 0; k < 4; k++)
    if (len[k] < n) return Throw(env, "attackStep: arrays too small for the shape");
  double h[6];
  const int idx[6] = {6, 7, 9, 10, 11, 12};
  for (int k = 0; k < 6; k++)
    if (napi_get_value_double(env, argv[idx[k]], &h[k]) != napi_ok || (k < 4 && !std::isfinite(h[k])))
      return Throw(env, "attackStep: lambda, stepSize, distEps, normEps must be finite numbers, lo/hi numbers (NaN = no bound)");
  if (a[3] == a[0]) return Throw(env, "attackStep: xOut must not be x");
  AttackStepRows(a[0], a[1], a[2], a[3], rows, cols, static_cast<float>(h[0]),
                 -static_cast<float>(h[1]), static_cast<int>(mode), static_cast<float>(h[2]),
                 static_cast<float>(h[3]), static_cast<float>(h[4]), static_cast<float>(h[5]));
  return nullptr;
}

// PGD's step after its backward pass, per row (src/attacks/fused-pgd.ts, pgdStep):
//   L∞ (mode 0): xOut = clip01(x0 + clamp((x + sign(g)·α) − x0, −ε, ε))
//   L2 (mode 1): d = (x + (g / sqrt(Σg² + rootEps))·α) − x0;
//                xOut = clip01(x0 + d·min(1, ε / sqrt(Σd² + rootEps)))
// with the float32 operations of the JS form in its order (sums sequential, left to right; no
// -march, so no FMA contraction), and its NaN behaviour: clip01 passes NaN through.
inline float Clip01(float v) { return v > 1.0f ? 1.0f : (v < 0.0f ? 0.0f : v); }

void PgdStepRows(const float* __restrict x, const float* __restrict x0, const float* __restrict g,
                 float* __restrict xOut, int64_t rows, int64_t cols, float eps, float step,
                 int mode, float rootEps) {
  for (int64_t i = 0; i < rows; i++) {
    const float* xi = x + i * cols;
    const float* x0i = x0 + i * cols;
    const float* gi = g + i * cols;
    float* oi = xOut + i * cols;
    if (mode == 0) {
      for (int64_t j = 0; j < cols; j++) {
        const float sg = static_cast<float>((gi[j] > 0.0f ? 1 : 0) - (gi[j] < 0.0f ? 1 : 0));
        const float v = xi[j] + sg * step;  // sg·α is exact: ±α or 0
        float d = v - x0i[j];
        d = d < -eps ? -eps : (d > eps ? eps : d);
        oi[j] = Clip01(x0i[j] + d);
      }
      continue;
    }
    float gs = 0.0f;
    for (int64_t j = 0; j < cols; j++) {
      const float q = gi[j] * gi[j];
      gs += q;
    }
    const float gn = std::sqrt(gs + rootEps);
    float ds = 0.0f;
    for (int64_t j = 0; j < cols; j++) {
      const float u = (gi[j] / gn) * step;
      const float d = (xi[j] + u) - x0i[j];
      oi[j] = d;
      const float dd = d * d;
      ds += dd;
    }
    const float q = eps / std::sqrt(ds + rootEps);
    const float scale = q < 1.0f ? q : 1.0f;
    for (int64_t j = 0; j < cols; j++) {
      const float dv = oi[j] * scale;
      oi[j] = Clip01(x0i[j] + dv);
    }
  }
}

// pgdStep(x, x0, g, xOut, rows, cols, eps, stepSize, mode, rootEps): see PgdStepRows.
napi_value PgdStep(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 10)
    return Throw(env, "pgdStep needs (x, x0, g, xOut, rows, cols, eps, stepSize, mode, rootEps)");
  float* a[4];
  size_t len[4];
  for (int k = 0; k < 4; k++)
    if (!GetF32(env, argv[k], &a[k], &len[k]))
      return Throw(env, "pgdStep: x, x0, g, xOut must be Float32Arrays");
  int64_t rows, cols, mode;
  if (!GetInt(env, argv[4], &rows) || !GetInt(env, argv[5], &cols) || !GetInt(env, argv[8], &mode) ||
      mode > 1)
    return Throw(env, "pgdStep: rows, cols must be non-negative integers and mode 0 or 1");
  const size_t n = static_cast<size_t>(rows * cols);
  for (int k = 0; k < 4; k++)
    if (len[k] < n) return Throw(env, "pgdStep: arrays too small for the shape");
  double h[3];
  const int idx[3] = {6, 7, 9};
  for (int k = 0; k < 3; k++)
    if (napi_get_value_double(env, argv[idx[k]], &h[k]) != napi_ok || !std::isfinite(h[k]))
      return Throw(env, "pgdStep: eps, stepSize, rootEps must be finite numbers");
  if (a[3] == a[0] || a[3] == a[1] || a[3] == a[2])
    return Throw(env, "pgdStep: xOut must not be x, x0 or g");
  PgdStepRows(a[0], a[1], a[2], a[3], rows, cols, static_cast<float>(h[0]),
              static_cast<float>(h[1]), static_cast<int>(mode), static_cast<float>(h[2]));
  return nullptr;
}

// APGD (src/attacks/fused-apgd.ts; JS forms apgdInitJs and apgdStepJs, same float32 operations
// in the same order, sums sequential, no FMA contraction).
// ProjectRow: y ← clip01(x0 + P_ε(y − x0)), P_ε the L∞ clip (mode 0) or the L2 scale (mode 1).
void ProjectRow(float* __restrict y, const float* __restrict x0, int64_t d, float e, int mode,
                float rootEps) {
  if (mode == 0) {
    for (int64_t j = 0; j < d; j++) {
      float dl = y[j] - x0[j];
      dl = dl < -e ? -e : (dl > e ? e : dl);
      y[j] = Clip01(x0[j] + dl);
    }
    return;
  }
  float s = 0.0f;
  for (int64_t j = 0; j < d; j++) {
    const float dl = y[j] - x0[j];
    y[j] = dl;
    const float sq = dl * dl;
    s += sq;
  }
  const float q = e / std::sqrt(s + rootEps);
  const float scale = q < 1.0f ? q : 1.0f;
  for (int64_t j = 0; j < d; j++) {
    const float dv = y[j] * scale;
    y[j] = Clip01(x0[j] + dv);
  }
}

void ApgdStepRows(const float* __restrict x, const float* __restrict xOld, const float* __restrict g,
                  const float* __restrict x0, const float* __restrict eta, float* __restrict next,
                  int64_t rows, int64_t d, float a, float b, float e, int mode, float rootEps) {
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * d;
    const float* xo = xOld + r * d;
    const float* gr = g + r * d;
    const float* x0r = x0 + r * d;
    float* nr = next + r * d;
    const float et = eta[r];
    if (mode == 0) {
      for (int64_t q = 0; q < d; q++) {
        const float sg = static_cast<float>((gr[q] > 0.0f ? 1 : 0) - (gr[q] < 0.0f ? 1 : 0));
        const float st = et * sg;
        nr[q] = xr[q] + st;
      }
    } else {
      float gs = 0.0f;
      for (int64_t q = 0; q < d; q++) {
        const float sq = gr[q] * gr[q];
        gs += sq;
      }
      const float gn = std::sqrt(gs + rootEps);
      for (int64_t q = 0; q < d; q++) {
        const float dir = gr[q] / gn;
        const float st = et * dir;
        nr[q] = xr[q] + st;
      }
    }
    ProjectRow(nr, x0r, d, e, mode, rootEps);
    for (int64_t q = 0; q < d; q++) {
      const float dz = nr[q] - xr[q];
      const float t1 = a * dz;
      const float u = xr[q] + t1;
      const float dx = xr[q] - xo[q];
      const float t2 = b * dx;
      nr[q] = u + t2;
    }
    ProjectRow(nr, x0r, d, e, mode, rootEps);
  }
}

// apgdStep(x, xOld, g, x0, eta, next, rows, d, a, b, eps, mode, rootEps): see ApgdStepRows.
napi_value ApgdStep(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 13)
    return Throw(env, "apgdStep needs (x, xOld, g, x0, eta, next, rows, d, a, b, eps, mode, rootEps)");
  float* p[6];
  size_t len[6];
  for (int k = 0; k < 6; k++)
    if (!GetF32(env, argv[k], &p[k], &len[k]))
      return Throw(env, "apgdStep: x, xOld, g, x0, eta, next must be Float32Arrays");
  int64_t rows, d, mode;
  if (!GetInt(env, argv[6], &rows) || !GetInt(env, argv[7], &d) || !GetInt(env, argv[11], &mode) ||
      mode > 1)
    return Throw(env, "apgdStep: rows, d must be non-negative integers and mode 0 or 1");
  const size_t n = static_cast<size_t>(rows * d);
  for (int k = 0; k < 6; k++)
    if (len[k] < (k == 4 ? static_cast<size_t>(rows) : n))
      return Throw(env, "apgdStep: arrays too small for the shape");
  double h[4];
  const int idx[4] = {8, 9, 10, 12};
  for (int k = 0; k < 4; k++)
    if (napi_get_value_double(env, argv[idx[k]], &h[k]) != napi_ok || !std::isfinite(h[k]))
      return Throw(env, "apgdStep: a, b, eps, rootEps must be finite numbers");
  for (int k = 0; k < 5; k++)
    if (p[5] == p[k]) return Throw(env, "apgdStep: next must not alias an input");
  ApgdStepRows(p[0], p[1], p[2], p[3], p[4], p[5], rows, d, static_cast<float>(h[0]),
               static_cast<float>(h[1]), static_cast<float>(h[2]), static_cast<int>(mode),
               static_cast<float>(h[3]));
  return nullptr;
}

// apgdInit(x0, t, rows, d, eps, initEps): t ← clip01(x0 + ε·t/(max_row|t| + initEps)), in place.
napi_value ApgdInit(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 6)
    return Throw(env, "apgdInit needs (x0, t, rows, d, eps, initEps)");
  float *x0, *t;
  size_t l0, l1;
  if (!GetF32(env, argv[0], &x0, &l0) || !GetF32(env, argv[1], &t, &l1))
    return Throw(env, "apgdInit: x0, t must be Float32Arrays");
  int64_t rows, d;
  if (!GetInt(env, argv[2], &rows) || !GetInt(env, argv[3], &d))
    return Throw(env, "apgdInit: rows, d must be non-negative integers");
  const size_t n = static_cast<size_t>(rows * d);
  if (l0 < n || l1 < n) return Throw(env, "apgdInit: arrays too small for the shape");
  double h[2];
  for (int k = 0; k < 2; k++)
    if (napi_get_value_double(env, argv[4 + k], &h[k]) != napi_ok || !std::isfinite(h[k]))
      return Throw(env, "apgdInit: eps, initEps must be finite numbers");
  if (x0 == t) return Throw(env, "apgdInit: t must not be x0");
  const float e = static_cast<float>(h[0]), ie = static_cast<float>(h[1]);
  for (int64_t i = 0; i < rows; i++) {
    float* tr = t + i * d;
    const float* xr = x0 + i * d;
    float size = 0.0f;
    for (int64_t j = 0; j < d; j++) {
      const float av = std::fabs(tr[j]);
      if (av > size) size = av;
    }
    const float s = size + ie;
    for (int64_t j = 0; j < d; j++) {
      const float q = tr[j] / s;
      const float m = e * q;
      tr[j] = Clip01(xr[j] + m);
    }
  }
  return nullptr;
}

// sfc32Uniform(out, a, b, c, d, min, range): out[i] = float32(min + range·t_i/2^32), t_i the
//   sfc32 stream from state (a, b, c, d): util/rng.ts's fillUniform loop, the same uint32 and
//   float64 operations (its JS form runs at ~7 ns a value once V8 has seen an int32 add wrap).
napi_value Sfc32Uniform(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 7)
    return Throw(env, "sfc32Uniform needs (out, a, b, c, d, min, range)");
  float* out;
  size_t n;
  if (!GetF32(env, argv[0], &out, &n)) return Throw(env, "sfc32Uniform: out must be a Float32Array");
  uint32_t s[4];
  for (int k = 0; k < 4; k++)
    if (napi_get_value_uint32(env, argv[1 + k], &s[k]) != napi_ok)
      return Throw(env, "sfc32Uniform: the state must be four numbers");
  double h[2];
  for (int k = 0; k < 2; k++)
    if (napi_get_value_double(env, argv[5 + k], &h[k]) != napi_ok || !std::isfinite(h[k]))
      return Throw(env, "sfc32Uniform: min and range must be finite numbers");
  uint32_t a = s[0], b = s[1], c = s[2], d = s[3];
  const double lo = h[0], range = h[1];
  for (size_t i = 0; i < n; i++) {
    const uint32_t t = a + b + d;
    d = d + 1;
    a = b ^ (b >> 9);
    b = c + (c << 3);
    c = (c << 21) | (c >> 11);
    c = c + t;
    out[i] = static_cast<float>(lo + range * (static_cast<double>(t) / 4294967296.0));
  }
  return nullptr;
}

// addClip(out, x0, n, lo, hi): out[i] = clip(float32(x0[i] + out[i]), lo, hi), in place: a
//   random start x0 + δ in the box (norms.ts's hostRandomStartLinf loop; lo/hi may be ±∞).
napi_value AddClip(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 5)
    return Throw(env, "addClip needs (out, x0, n, lo, hi)");
  float *out, *x0;
  size_t lo_len, l0;
  if (!GetF32(env, argv[0], &out, &lo_len) || !GetF32(env, argv[1], &x0, &l0))
    return Throw(env, "addClip: out, x0 must be Float32Arrays");
  int64_t n;
  if (!GetInt(env, argv[2], &n)) return Throw(env, "addClip: n must be a non-negative integer");
  if (lo_len < static_cast<size_t>(n) || l0 < static_cast<size_t>(n))
    return Throw(env, "addClip: arrays too small");
  double h[2];
  for (int k = 0; k < 2; k++)
    if (napi_get_value_double(env, argv[3 + k], &h[k]) != napi_ok || std::isnan(h[k]))
      return Throw(env, "addClip: lo and hi must be numbers");
  const float lo = static_cast<float>(h[0]), hi = static_cast<float>(h[1]);
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float v = x0[i] + out[i];
    out[i] = v < lo ? lo : (v > hi ? hi : v);
  }
  return nullptr;
}

// boxBallDistances(adv, x0, rows, d, mode, out): per row, NaN if a value of adv is outside
//   [0, 1] (or NaN), else ‖adv − x0‖ (mode 0 L∞, 1 L2) in float64, summed in order: the
//   read-only first pass of the evaluation's projectRow, for all rows in one call.
napi_value BoxBallDistances(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 6)
    return Throw(env, "boxBallDistances needs (adv, x0, rows, d, mode, out)");
  float *adv, *x0;
  double* out;
  size_t la, l0, lo;
  if (!GetF32(env, argv[0], &adv, &la) || !GetF32(env, argv[1], &x0, &l0) ||
      !GetF64(env, argv[5], &out, &lo))
    return Throw(env, "boxBallDistances: adv, x0 must be Float32Arrays and out a Float64Array");
  int64_t rows, d, mode;
  if (!GetInt(env, argv[2], &rows) || !GetInt(env, argv[3], &d) || !GetInt(env, argv[4], &mode) ||
      mode > 1)
    return Throw(env, "boxBallDistances: rows, d must be non-negative integers and mode 0 or 1");
  const size_t n = static_cast<size_t>(rows * d);
  if (la < n || l0 < n || lo < static_cast<size_t>(rows))
    return Throw(env, "boxBallDistances: arrays too small for the shape");
  for (int64_t i = 0; i < rows; i++) {
    const float* a = adv + i * d;
    const float* b = x0 + i * d;
    double m = 0.0;
    int outside = 0;
    if (mode == 0) {
      // branch-free and vectorised: max is exact, so any order gives the JS loop's value
#pragma omp simd reduction(max : m) reduction(| : outside)
      for (int64_t j = 0; j < d; j++) {
        const float v = a[j];
        outside |= !(v >= 0.0f && v <= 1.0f);
        const double ae = std::fabs(static_cast<double>(v) - static_cast<double>(b[j]));
        m = ae > m ? ae : m;
      }
    } else {
      // in order (a float64 sum rounds by order), as the JS loop adds
      for (int64_t j = 0; j < d; j++) {
        const float v = a[j];
        outside |= !(v >= 0.0f && v <= 1.0f);
        const double e = static_cast<double>(v) - static_cast<double>(b[j]);
        m += e * e;
      }
    }
    const bool inside = !outside;
    out[i] = inside ? (mode == 0 ? m : std::sqrt(m)) : std::nan("");
  }
  return nullptr;
}

napi_value SetNumThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  int64_t n;
  if (argc < 1 || !GetInt(env, argv[0], &n) || n < 1 || n > 1024)
    return Throw(env, "setNumThreads needs an integer in [1, 1024]");
  openblas_set_num_threads(static_cast<int>(n));
  return nullptr;
}

napi_value GetNumThreads(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_int32(env, openblas_get_num_threads(), &out);
  return out;
}

napi_value Config(napi_env env, napi_callback_info) {
  std::string s;
  const char* cfg = openblas_get_config ? openblas_get_config() : nullptr;
  const char* core = openblas_get_corename ? openblas_get_corename() : nullptr;
  s += cfg ? cfg : "OpenBLAS";
  if (core) s += std::string(" core=") + core;
  napi_value out;
  napi_create_string_utf8(env, s.c_str(), s.size(), &out);
  return out;
}

}  // namespace

NAPI_MODULE_INIT() {
  const std::string err = InitOpenBlas();
  if (!err.empty()) {
    napi_throw_error(env, nullptr, ("robustlab_matmul: " + err).c_str());
    return nullptr;
  }
  napi_property_descriptor props[] = {
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setNumThreads", nullptr, SetNumThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getNumThreads", nullptr, GetNumThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"config", nullptr, Config, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"dgesdd", nullptr, Dgesdd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bceLogits", nullptr, BceLogits, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"dgemmAcc", nullptr, DgemmAcc, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sigmoidDist", nullptr, SigmoidDist, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sigmoidCentralDiff", nullptr, SigmoidCentralDiff, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adam", nullptr, Adam, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"gatherRows", nullptr, GatherRows, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"reluMask", nullptr, ReluMask, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"leakyRelu", nullptr, LeakyRelu, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"leakyReluBackward", nullptr, LeakyReluBackward, nullptr, nullptr, nullptr, napi_enumerable,
       nullptr},
      {"scale", nullptr, Scale, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attackStep", nullptr, AttackStep, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgdStep", nullptr, PgdStep, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"apgdStep", nullptr, ApgdStep, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"apgdInit", nullptr, ApgdInit, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"addClip", nullptr, AddClip, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sfc32Uniform", nullptr, Sfc32Uniform, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"boxBallDistances", nullptr, BoxBallDistances, nullptr, nullptr, nullptr, napi_enumerable,
       nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
