package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.NormShape;
import dev.vecnorm.ParallelBatchNorm;
import dev.vecnorm.bench.PeersReport.Case;
import dev.vecnorm.bench.PeersReport.Reply;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.DoubleSupplier;

/**
 * The vecnorm side of {@link Peers}, in the driver's own JVM: the same tensors, data, timing and
 * checksum as the oneDNN and PyTorch workers ({@code jmh/peers/onednn_bn.cpp}, {@code torch_bn.py}).
 * One thread is {@link BatchNorm}, more is {@link ParallelBatchNorm}, as a user would call them.
 */
final class VecnormSide implements AutoCloseable {
  static final float EPSILON = Workload.EPSILON; // 1e-3, as in the workers

  private final Map<Integer, ParallelBatchNorm> pools = new HashMap<>();
  private final NormsSide norms = new NormsSide();
  private Workload w;
  private String label;
  private float[] xin;
  /**
   * Set by {@code Peers --bn-native}: every batch-norm case also runs on 64-byte-aligned native segments
   * ({@link NormsSide#NATIVE}). A large {@code float[]}'s data starts 16 bytes past a cache line (the array
   * header), so every 64-byte vector load of the {@code float[]} rows spans two lines; the native rows show
   * the same kernels on buffers aligned as a native tensor library's (and the peers') are.
   */
  static boolean nativeRows;
  private static final ValueLayout.OfFloat FLOAT = NormsSide.FLOAT;
  /** Native copies of the workload's x and dy, and native y, dx, in-place input: made once per workload. */
  private Workload nativeFor;
  private MemorySegment nx, ny, ndy, ndx, nxin;

  /** The shared deterministic data: a uint32 hash of the memory index, in [0, 1) (as hash_unit in the workers). */
  static float hashUnit(int i) {
    int h = i * 0x9E3779B1;
    h ^= h >>> 15;
    h *= 0x85EBCA77;
    h ^= h >>> 13;
    return (h >>> 8) * 0x1p-24f;
  }

  /** The suite's tensors for this shape, refilled with the data all three sides share. */
  void shape(String label) {
    w = null;
    xin = null; // let the old shape's tensors go before allocating
    w = new Workload(label);
    this.label = label;
    int n = w.x.length;
    xin = new float[n];
    for (int i = 0; i < n; i++) {
      w.x[i] = hashUnit(i) * 4 - 1;
      w.dy[i] = hashUnit(i ^ 0x5BD1E995) * 2 - 1;
    }
    for (int k = 0; k < w.gamma.length; k++) {
      w.gamma[k] = 1f + 0.01f * (k % 7);
      w.beta[k] = 0.1f * (k % 5);
      // Inference statistics that make y = x up to rounding, so repeated in-place calls neither blow
      // up nor sink into denormals: mean = beta, variance = gamma^2 - epsilon.
      w.movingMean[k] = w.beta[k];
      w.movingVariance[k] = w.gamma[k] * w.gamma[k] - EPSILON;
    }
    System.gc(); // now, not inside a measurement
  }

  /** The current shape's tensors. */
  Workload workload() {
    return w;
  }

  Reply run(Case c, double warmMs, double measureMs) {
    if (c.family() != null) return norms.run(w, c, warmMs, measureMs);
    if (c.inPlace() && c.op().equals("backward")) return Reply.error("backward runs out of place only");
    if (c.op().endsWith(NormsSide.NATIVE)) return runNative(c, warmMs, measureMs);
    NormShape s = w.shape;
    float[] x = w.x, y = w.y, dy = w.dy, dx = w.dx, gamma = w.gamma, beta = w.beta, mean = w.mean, variance = w.variance;
    float[] invStd = w.invStd, movingMean = w.movingMean, movingVariance = w.movingVariance, dGamma = w.dGamma, dBeta = w.dBeta;
    System.arraycopy(x, 0, xin, 0, x.length); // in place starts from fresh data
    float[] in = c.inPlace() ? xin : x, out = c.inPlace() ? xin : y;
    ParallelBatchNorm pool = c.threads() == 1 ? null : pools.computeIfAbsent(c.threads(), ParallelBatchNorm::new);
    Runnable call;
    switch (c.op()) {
      case "trainingForward" -> call = pool == null
          ? () -> BatchNorm.forwardTraining(s, in, 0, gamma, beta, EPSILON, out, 0, mean, variance, invStd)
          : () -> pool.forwardTraining(s, in, 0, gamma, beta, EPSILON, out, 0, mean, variance, invStd);
      case "inferenceForward" -> call = pool == null
          ? () -> BatchNorm.forwardInference(s, in, 0, gamma, beta, movingMean, movingVariance, EPSILON, out, 0)
          : () -> pool.forwardInference(s, in, 0, gamma, beta, movingMean, movingVariance, EPSILON, out, 0);
      case "backward" -> {
        // The statistics backward needs come from a real training forward, as in training.
        BatchNorm.forwardTraining(s, x, 0, gamma, beta, EPSILON, y, 0, mean, variance, invStd);
        call = pool == null
            ? () -> BatchNorm.backward(s, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta)
            : () -> pool.backward(s, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
      }
      default -> {
        return Reply.error("unknown op " + c.op());
      }
    }
    return measure(c.op(), call, () -> sumAbs(out), () -> sumAbs(dx), warmMs, measureMs,
        c.threads() == 1 ? "BatchNorm" : "ParallelBatchNorm(" + c.threads() + ")");
  }

  /**
   * Runs {@code call} once on fresh data and checksums its outputs as every worker does (training forward
   * {@code Σ|y| + Σmean}, inference {@code Σ|y|}, backward {@code Σ|dx| + ΣdGamma + ΣdBeta}), then times it.
   */
  private Reply measure(String op, Runnable call, DoubleSupplier sumAbsOut, DoubleSupplier sumAbsDx, double warmMs,
                        double measureMs, String detail) {
    call.run();
    double checksum = switch (op) {
      case "trainingForward" -> sumAbsOut.getAsDouble() + sum(w.mean);
      case "inferenceForward" -> sumAbsOut.getAsDouble();
      default -> sumAbsDx.getAsDouble() + sum(w.dGamma) + sum(w.dBeta);
    };
    return new Reply(true, false, medianNs(call, warmMs, measureMs), checksum, detail);
  }

  /** {@link #run} for a {@link NormsSide#NATIVE} case: the same calls through the {@code MemorySegment} entry points. */
  private Reply runNative(Case c, double warmMs, double measureMs) {
    String op = c.peerOp();
    NormShape s = w.shape;
    int n = w.x.length;
    if (nativeFor != w) { // the segments follow the workload: a new shape gets new ones, the old are freed by the GC
      nativeFor = w;
      Arena arena = Arena.ofAuto();
      nx = arena.allocate(4L * n, 64);
      ny = arena.allocate(4L * n, 64);
      ndy = arena.allocate(4L * n, 64);
      ndx = arena.allocate(4L * n, 64);
      nxin = arena.allocate(4L * n, 64);
      MemorySegment.copy(w.x, 0, nx, FLOAT, 0, n);
      MemorySegment.copy(w.dy, 0, ndy, FLOAT, 0, n);
    }
    float[] gamma = w.gamma, beta = w.beta, mean = w.mean, variance = w.variance, invStd = w.invStd;
    float[] movingMean = w.movingMean, movingVariance = w.movingVariance, dGamma = w.dGamma, dBeta = w.dBeta;
    MemorySegment.copy(nx, 0, nxin, 0, 4L * n); // in place starts from fresh data
    MemorySegment x = nx, dy = ndy, dx = ndx, in = c.inPlace() ? nxin : nx, out = c.inPlace() ? nxin : ny;
    ParallelBatchNorm pool = c.threads() == 1 ? null : pools.computeIfAbsent(c.threads(), ParallelBatchNorm::new);
    Runnable call;
    switch (op) {
      case "trainingForward" -> call = pool == null
          ? () -> BatchNorm.forwardTraining(s, in, 0, gamma, beta, EPSILON, out, 0, mean, variance, invStd)
          : () -> pool.forwardTraining(s, in, 0, gamma, beta, EPSILON, out, 0, mean, variance, invStd);
      case "inferenceForward" -> call = pool == null
          ? () -> BatchNorm.forwardInference(s, in, 0, gamma, beta, movingMean, movingVariance, EPSILON, out, 0)
          : () -> pool.forwardInference(s, in, 0, gamma, beta, movingMean, movingVariance, EPSILON, out, 0);
      case "backward" -> {
        BatchNorm.forwardTraining(s, x, 0, gamma, beta, EPSILON, ny, 0, mean, variance, invStd);
        call = pool == null
            ? () -> BatchNorm.backward(s, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta)
            : () -> pool.backward(s, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
      }
      default -> {
        return Reply.error("unknown op " + c.op());
      }
    }
    return measure(op, call, () -> sumAbs(out, n), () -> sumAbs(dx, n), warmMs, measureMs,
        (c.threads() == 1 ? "BatchNorm" : "ParallelBatchNorm(" + c.threads() + ")") + " on 64-byte-aligned native segments");
  }

  private static double sumAbs(MemorySegment a, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += Math.abs(a.getAtIndex(FLOAT, i));
    return s;
  }

  /**
   * The checksums every side should return for this shape, by operation, computed in double from the
   * same float inputs: training forward with two-pass mean and biased variance, inference forward from
   * the moving statistics, backward from the double statistics. Independent of the kernels under test.
   */
  Map<String, Double> reference() {
    NormShape s = w.shape;
    int channels = s.channels(), outer = s.outer(), inner = s.inner();
    double count = (double) outer * inner, eps = EPSILON;
    double[] mean = new double[channels], var = new double[channels], sumDy = new double[channels], sumDyXhat = new double[channels];
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        for (int i = 0, at = (o * channels + c) * inner; i < inner; i++) mean[c] += w.x[at + i];
      }
    }
    for (int c = 0; c < channels; c++) mean[c] /= count;
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        for (int i = 0, at = (o * channels + c) * inner; i < inner; i++) var[c] += (w.x[at + i] - mean[c]) * (w.x[at + i] - mean[c]);
      }
    }
    double training = 0, inference = 0, backward = 0;
    for (int c = 0; c < channels; c++) {
      var[c] /= count;
      training += mean[c];
    }
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        double invStd = 1 / Math.sqrt(var[c] + eps), movingInvStd = 1 / Math.sqrt((double) w.movingVariance[c] + eps);
        for (int i = 0, at = (o * channels + c) * inner; i < inner; i++) {
          double x = w.x[at + i], xhat = (x - mean[c]) * invStd;
          training += Math.abs(w.gamma[c] * xhat + w.beta[c]);
          inference += Math.abs(w.gamma[c] * (x - w.movingMean[c]) * movingInvStd + w.beta[c]);
          sumDy[c] += w.dy[at + i];
          sumDyXhat[c] += w.dy[at + i] * xhat;
        }
      }
    }
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        double invStd = 1 / Math.sqrt(var[c] + eps);
        for (int i = 0, at = (o * channels + c) * inner; i < inner; i++) {
          double xhat = (w.x[at + i] - mean[c]) * invStd;
          backward += Math.abs(w.gamma[c] * invStd * (w.dy[at + i] - sumDy[c] / count - xhat * sumDyXhat[c] / count));
        }
      }
    }
    for (int c = 0; c < channels; c++) backward += sumDy[c] + sumDyXhat[c];
    return Map.of("trainingForward", training, "inferenceForward", inference, "backward", backward);
  }

  /** {@link #reference()} for the {@code --norms} operations ({@link NormsSide#reference}). */
  Map<String, Double> normsReference() {
    return NormsSide.reference(w, label);
  }

  /**
   * The timing all three sides share: warm up for {@code warmMs} (at least 3 calls), then batches of
   * calls of at least 20 µs each until {@code measureMs} has passed (at least 7 batches); the median of
   * the per-call times of the batches, in nanoseconds.
   */
  static double medianNs(Runnable call, double warmMs, double measureMs) {
    long start = System.nanoTime(), t;
    long calls = 0;
    do {
      call.run();
      calls++;
      t = System.nanoTime();
    } while (calls < 3 || t - start < warmMs * 1e6);
    double perCall = (double) (t - start) / calls;
    long batch = Math.max(1, (long) Math.ceil(20_000.0 / perCall));
    double[] samples = new double[16];
    int count = 0;
    long begin = System.nanoTime();
    do {
      long s0 = System.nanoTime();
      for (long i = 0; i < batch; i++) call.run();
      long e = System.nanoTime();
      if (count == samples.length) samples = Arrays.copyOf(samples, 2 * count);
      samples[count++] = (double) (e - s0) / batch;
    } while (count < 7 || System.nanoTime() - begin < measureMs * 1e6);
    return median(Arrays.copyOf(samples, count));
  }

  static double median(double[] samples) {
    double[] sorted = samples.clone();
    Arrays.sort(sorted);
    int m = sorted.length;
    return m % 2 == 1 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
  }

  static double sumAbs(float[] a) {
    double s = 0;
    for (float f : a) s += Math.abs(f);
    return s;
  }

  static double sum(float[] a) {
    double s = 0;
    for (float f : a) s += f;
    return s;
  }

  @Override
  public void close() {
    pools.values().forEach(ParallelBatchNorm::close);
  }
}
