// oneDNN side of `jmh/bench peers`: a worker that times dnnl batch normalization on the tensors the
// driver (dev.vecnorm.bench.Peers) asks for. Line protocol on stdin/stdout, one reply line per command:
//   shape LAYOUT:DIMS                       allocate and fill the tensors once        -> "ok"
//   run OP PLACE THREADS WARM_MS MEASURE_MS  time one case                             -> "result NS CHECKSUM DETAIL"
// OP is trainingForward | inferenceForward | backward, PLACE is out | in (y = x; forward only). For
// `--norms`, OP is FAMILY.OP: layerNorm.{trainingForward,inferenceForward,backward} over the rows of an NC
// tensor (layer_normalization_forward/backward, use_scale | use_shift, out of place); rmsNorm.* and
// groupNormG.* answer "unsupported" (oneDNN 2.6 has neither an RMS flag nor group normalization).
// Timing, data and checksum are the same in all three workers (see Peers.java): a warm-up, then
// batches of calls of at least 20 µs each, and the median of the per-call times of the batches.
// The input layout is the caller's, so only formats that match it are tried: NC as `nc` and as
// `nchw` with H = W = 1 (the faster is reported), NHWC as `nhwc`, NCHW as `nchw`.
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;

static const float EPSILON = 1e-3f;

// The shared deterministic data: element i of x in [-1, 3), of dy in [-1, 1) (memory order).
static float hash_unit(uint32_t i) {
  uint32_t h = i * 0x9E3779B1u;
  h ^= h >> 15;
  h *= 0x85EBCA77u;
  h ^= h >> 13;
  return (float)(h >> 8) * 0x1p-24f;
}

// Page-aligned storage, as oneDNN's own allocations and PyTorch's are (64 bytes or more). A plain
// std::vector of a large size comes from mmap at 16 bytes past a page: with that, oneDNN's forward
// fails its `dst % vlen == 0` test and falls back from streaming stores to ordinary ones.
template <class T>
struct PageAligned {
  using value_type = T;
  PageAligned() = default;
  template <class U>
  PageAligned(const PageAligned<U>&) {}
  T* allocate(size_t n) {
    void* p = nullptr;
    if (posix_memalign(&p, 4096, std::max<size_t>(n, 1) * sizeof(T)) != 0) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { free(p); }
  template <class U>
  bool operator==(const PageAligned<U>&) const { return true; }
  template <class U>
  bool operator!=(const PageAligned<U>&) const { return false; }
};
using Buffer = std::vector<float, PageAligned<float>>;

struct Tensors {
  std::string layout;
  long n = 0, c = 0, h = 1, w = 1;
  Buffer x, xin, y, dy, dx;
  Buffer gamma, beta, mean, var, dgamma, dbeta, mmean, mvar;
  Buffer row_mean, row_var; // layer norm: per-row statistics of an NC tensor
  size_t size() const { return (size_t)n * c * h * w; }
};

static Tensors T;
static engine eng(engine::kind::cpu, 0);
static stream strm(eng);

static void set_shape(const std::string& label) {
  size_t colon = label.find(':');
  T = Tensors();
  T.layout = label.substr(0, colon);
  std::vector<long> d;
  std::stringstream ss(label.substr(colon + 1));
  std::string part;
  while (std::getline(ss, part, 'x')) d.push_back(std::stol(part));
  if (T.layout == "NC") { T.n = d[0]; T.c = d[1]; }
  else if (T.layout == "NHWC" || T.layout == "NCHW") { T.n = d[0]; T.h = d[1]; T.w = d[2]; T.c = d[3]; }
  else throw std::runtime_error("bad layout " + T.layout);
  size_t s = T.size();
  T.x.resize(s); T.xin.resize(s); T.y.resize(s); T.dy.resize(s); T.dx.resize(s);
  for (size_t i = 0; i < s; i++) {
    T.x[i] = hash_unit((uint32_t)i) * 4 - 1;
    T.dy[i] = hash_unit((uint32_t)i ^ 0x5BD1E995u) * 2 - 1;
  }
  long C = T.c;
  T.gamma.resize(C); T.beta.resize(C); T.mean.resize(C); T.var.resize(C);
  T.dgamma.resize(C); T.dbeta.resize(C); T.mmean.resize(C); T.mvar.resize(C);
  T.row_mean.resize(T.n); T.row_var.resize(T.n);
  for (long k = 0; k < C; k++) {
    T.gamma[k] = 1.0f + 0.01f * (float)(k % 7);
    T.beta[k] = 0.1f * (float)(k % 5);
    // Inference statistics that make y = x up to rounding, so repeated in-place calls neither
    // blow up nor sink into denormals: mean = beta, variance = gamma^2 - epsilon.
    T.mmean[k] = T.beta[k];
    T.mvar[k] = T.gamma[k] * T.gamma[k] - EPSILON;
  }
}

static double now_ns() {
  return (double)std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
static double median_ns(F call, double warm_ms, double measure_ms) {
  double start = now_ns(), t;
  long calls = 0;
  do { call(); calls++; t = now_ns(); } while (calls < 3 || t - start < warm_ms * 1e6);
  double per_call = (t - start) / calls;
  long batch = std::max(1L, (long)std::ceil(20000.0 / per_call));
  std::vector<double> samples;
  double begin = now_ns();
  do {
    double s = now_ns();
    for (long i = 0; i < batch; i++) call();
    double e = now_ns();
    samples.push_back((e - s) / batch);
  } while (samples.size() < 7 || now_ns() - begin < measure_ms * 1e6);
  std::sort(samples.begin(), samples.end());
  size_t m = samples.size();
  return m % 2 ? samples[m / 2] : 0.5 * (samples[m / 2 - 1] + samples[m / 2]);
}

static double sum_abs(const Buffer& v) {
  double s = 0;
  for (float f : v) s += std::fabs((double)f);
  return s;
}

static double sum_plain(const Buffer& v) {
  double s = 0;
  for (float f : v) s += f;
  return s;
}

// One case ready to run: the primitive, its arguments, and how to checksum its outputs.
struct Prepared {
  std::function<void()> call;
  std::function<double()> checksum;
};

// A batch- or layer-norm backward primitive's call on dy -> dx, dgamma, dbeta, and its checksum.
template <class Primitive>
static void backward_call(Prepared& p, std::shared_ptr<Primitive> prim, const memory::desc& data_md, const memory::desc& chan_md,
                          const memory& src, const memory& scale, const memory& shift, const memory& mean, const memory& var) {
  memory diff_dst(data_md, eng, T.dy.data()), diff_src(data_md, eng, T.dx.data());
  memory dscale(chan_md, eng, T.dgamma.data()), dshift(chan_md, eng, T.dbeta.data());
  // oneDNN 2.6 refuses to execute a use_shift backward without DNNL_ARG_SHIFT, though it does not read it.
  auto args = std::make_shared<std::unordered_map<int, memory>>(std::unordered_map<int, memory>{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift},
      {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_DIFF_SRC, diff_src},
      {DNNL_ARG_DIFF_SCALE, dscale}, {DNNL_ARG_DIFF_SHIFT, dshift}});
  p.call = [prim, args] { prim->execute(strm, *args); strm.wait(); };
  p.checksum = [] { return sum_abs(T.dx) + sum_plain(T.dgamma) + sum_plain(T.dbeta); };
}

// A case this library does not offer: the driver shows it as n/a.
struct Unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `--norms`: FAMILY.OP. Layer norm over each row of the NC tensor (dims {rows, features}, format `nc`:
// the normalized axis is the last, contiguous one), with the per-row statistics in row_mean / row_var.
// The checksums are the batch-norm ones with per-row statistics (see Peers.java).
static Prepared prepare_norm(const std::string& family, const std::string& op, bool in_place) {
  if (family == "rmsNorm") throw Unsupported("oneDNN 2.6 has no RMS normalization (no rms flag before 3.1)");
  if (family.rfind("groupNorm", 0) == 0) throw Unsupported("oneDNN 2.6 has no group normalization (3.3 added it)");
  if (family != "layerNorm") throw std::runtime_error("bad op " + family + "." + op);
  if (T.layout != "NC") throw std::runtime_error("layer norm runs on NC tensors (rows x features)");
  if (in_place) throw Unsupported("the --norms cases run out of place only");
  memory::desc data_md({T.n, T.c}, memory::data_type::f32, tag::nc);
  memory::desc stat_md({T.n}, memory::data_type::f32, tag::a);
  memory::desc chan_md({T.c}, memory::data_type::f32, tag::a);
  auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  memory src(data_md, eng, T.x.data()), dst(data_md, eng, T.y.data());
  memory scale(chan_md, eng, T.gamma.data()), shift(chan_md, eng, T.beta.data());
  memory mean(stat_md, eng, T.row_mean.data()), var(stat_md, eng, T.row_var.data());
  Prepared p;
  if (op == "trainingForward" || op == "inferenceForward") {
    bool training = op == "trainingForward";
    layer_normalization_forward::primitive_desc pd(
        layer_normalization_forward::desc(training ? prop_kind::forward_training : prop_kind::forward_inference,
                                          data_md, stat_md, EPSILON, flags), eng);
    auto prim = std::make_shared<layer_normalization_forward>(pd);
    std::unordered_map<int, memory> a{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift}};
    if (training) { a[DNNL_ARG_MEAN] = mean; a[DNNL_ARG_VARIANCE] = var; }
    auto args = std::make_shared<std::unordered_map<int, memory>>(a);
    p.call = [prim, args] { prim->execute(strm, *args); strm.wait(); };
    if (training) p.checksum = [] { return sum_abs(T.y) + sum_plain(T.row_mean); };
    else p.checksum = [] { return sum_abs(T.y); };
  } else if (op == "backward") {
    layer_normalization_forward::primitive_desc fwd_pd(
        layer_normalization_forward::desc(prop_kind::forward_training, data_md, stat_md, EPSILON, flags), eng);
    // The statistics backward needs come from a real training forward, as in training.
    layer_normalization_forward(fwd_pd).execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale},
        {DNNL_ARG_SHIFT, shift}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}});
    strm.wait();
    layer_normalization_backward::primitive_desc pd(
        layer_normalization_backward::desc(prop_kind::backward, data_md, data_md, stat_md, EPSILON, flags), eng, fwd_pd);
    auto prim = std::make_shared<layer_normalization_backward>(pd);
    backward_call(p, prim, data_md, chan_md, src, scale, shift, mean, var);
  } else {
    throw std::runtime_error("bad op " + family + "." + op);
  }
  return p;
}

// A format to try: its name, its tag, and the dims that describe the caller's memory with it.
enum class Dims { nc, nchw, rows_as_h };
struct Format { std::string name; tag fmt; Dims dims; };

static Prepared prepare(const std::string& op, bool in_place, const Format& f) {
  memory::dims dims;
  if (f.dims == Dims::nc) dims = {T.n, T.c};
  else if (f.dims == Dims::rows_as_h) dims = {1, T.c, T.n, 1};
  else dims = {T.n, T.c, T.h, T.w};
  memory::desc data_md(dims, memory::data_type::f32, f.fmt);
  memory::desc chan_md({T.c}, memory::data_type::f32, tag::a);
  auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  std::copy(T.x.begin(), T.x.end(), T.xin.begin()); // in place starts from fresh data
  memory src(data_md, eng, in_place ? T.xin.data() : T.x.data());
  memory dst(data_md, eng, in_place ? T.xin.data() : T.y.data());
  memory scale(chan_md, eng, T.gamma.data()), shift(chan_md, eng, T.beta.data());
  Buffer* out = in_place ? &T.xin : &T.y;
  Prepared p;
  if (op == "trainingForward" || op == "inferenceForward") {
    bool training = op == "trainingForward";
    memory mean(chan_md, eng, training ? T.mean.data() : T.mmean.data());
    memory var(chan_md, eng, training ? T.var.data() : T.mvar.data());
    batch_normalization_forward::primitive_desc pd(
        batch_normalization_forward::desc(training ? prop_kind::forward_training : prop_kind::forward_inference, data_md,
                                          EPSILON, training ? flags : flags | normalization_flags::use_global_stats), eng);
    auto prim = std::make_shared<batch_normalization_forward>(pd);
    auto args = std::make_shared<std::unordered_map<int, memory>>(std::unordered_map<int, memory>{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift},
        {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}});
    p.call = [prim, args] { prim->execute(strm, *args); strm.wait(); };
    if (training) p.checksum = [out] { return sum_abs(*out) + sum_plain(T.mean); };
    else p.checksum = [out] { return sum_abs(*out); };
  } else if (op == "backward") {
    if (in_place) throw std::runtime_error("backward runs out of place only");
    memory mean(chan_md, eng, T.mean.data()), var(chan_md, eng, T.var.data());
    batch_normalization_forward::primitive_desc fwd_pd(
        batch_normalization_forward::desc(prop_kind::forward_training, data_md, EPSILON, flags), eng);
    // The statistics backward needs come from a real training forward, as in training.
    batch_normalization_forward(fwd_pd).execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale},
        {DNNL_ARG_SHIFT, shift}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}});
    strm.wait();
    batch_normalization_backward::primitive_desc pd(
        batch_normalization_backward::desc(prop_kind::backward, data_md, data_md, EPSILON, flags), eng, fwd_pd);
    auto prim = std::make_shared<batch_normalization_backward>(pd);
    backward_call(p, prim, data_md, chan_md, src, scale, shift, mean, var);
  } else {
    throw std::runtime_error("bad op " + op);
  }
  return p;
}

// Formats that describe the caller's memory as it is. oneDNN 2.6 sends `nc`, and `nchw` or `nhwc` with
// H = W = 1 (the same strides), to its generic ncsp kernel, which is tens of times slower than its JIT.
// NC data is also exactly an NHWC tensor of 1 x N x 1 x C: the statistics run over the same N rows, and
// that description reaches the JIT. All are tried and the fastest is kept.
static std::vector<Format> formats_for_layout() {
  if (T.layout == "NC") {
    return {{"nc", tag::nc, Dims::nc}, {"nchw", tag::nchw, Dims::nchw}, {"nhwc:1xNx1xC", tag::nhwc, Dims::rows_as_h}};
  }
  if (T.layout == "NHWC") return {{"nhwc", tag::nhwc, Dims::nchw}};
  return {{"nchw", tag::nchw, Dims::nchw}};
}

// The format chosen per case (op, place, threads) on the first round, reused by later rounds.
static std::map<std::string, std::string> chosen;

static std::string run(const std::string& op, bool in_place, int threads, double warm_ms, double measure_ms) {
  omp_set_num_threads(threads); // before the primitives are created: they size their partitions by it
  // Batch norm tries the formats that describe the caller's memory; a --norms case (FAMILY.OP) has one.
  size_t dot = op.find('.');
  std::vector<Format> formats = dot == std::string::npos ? formats_for_layout()
      : std::vector<Format>{{"layer_normalization nc", tag::nc, Dims::nc}};
  std::string key = op + (in_place ? " in " : " out ") + std::to_string(threads);
  Format pick = formats[0];
  if (formats.size() > 1) {
    if (chosen.count(key)) {
      for (auto& f : formats) if (f.name == chosen[key]) pick = f;
    } else {
      // A short probe picks the format: the formats differ by integer factors (JIT against generic),
      // and the fastest of three calls is what a burst of noise is least likely to inflate.
      double best = 1e300;
      for (auto& f : formats) {
        Prepared p = prepare(op, in_place, f);
        p.call();
        for (int i = 0; i < 3; i++) {
          double s = now_ns();
          p.call();
          double t = now_ns() - s;
          if (t < best) { best = t; pick = f; }
        }
      }
      chosen[key] = pick.name;
    }
  }
  Prepared p = dot == std::string::npos ? prepare(op, in_place, pick) : prepare_norm(op.substr(0, dot), op.substr(dot + 1), in_place);
  p.call();
  double checksum = p.checksum(); // after exactly one call on fresh data, as in the other workers
  double ns = median_ns(p.call, warm_ms, measure_ms);
  char buf[256];
  std::snprintf(buf, sizeof buf, "result %.1f %.9g %s", ns, checksum, pick.name.c_str());
  return buf;
}

int main() {
  std::ios::sync_with_stdio(false);
  std::cout << "ready oneDNN " << dnnl_version()->major << "." << dnnl_version()->minor << "."
            << dnnl_version()->patch << " cpu_runtime=omp max_threads=" << omp_get_max_threads() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    try {
      if (cmd == "shape") {
        std::string label;
        in >> label;
        set_shape(label);
        chosen.clear();
        std::cout << "ok" << std::endl;
      } else if (cmd == "run") {
        std::string op, place;
        int threads;
        double warm_ms, measure_ms;
        in >> op >> place >> threads >> warm_ms >> measure_ms;
        std::cout << run(op, place == "in", threads, warm_ms, measure_ms) << std::endl;
      } else if (cmd == "quit") {
        return 0;
      } else {
        std::cout << "error unknown command " << cmd << std::endl;
      }
    } catch (const Unsupported& e) {
      std::cout << "unsupported " << e.what() << std::endl;
    } catch (const std::exception& e) {
      std::cout << "error " << e.what() << std::endl;
    }
  }
  return 0;
}
