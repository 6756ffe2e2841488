package dev.vecnorm;

import static dev.vecnorm.NormTesting.assertClose;
import static dev.vecnorm.NormTesting.random;
import static dev.vecnorm.NormTesting.read;
import static dev.vecnorm.NormTesting.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.GroupNormSupport;
import dev.vecnorm.internal.LayerNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ParallelNorms, both implementations: the same bits for 1, 2 and 3 threads; forward outputs, statistics
 * and dx equal to the single-threaded facades bit for bit (rows and samples are independent), dGamma/dBeta
 * to float rounding (chunk partials merged in double); everything against a double-precision reference
 * written here from the definitions (forward 1e-4 abs + rel, dx 1e-4 of the largest |dx| plus 1e-4 rel,
 * parameter gradients 1e-5 of the sum of the magnitudes of their terms); segments (native, heap) equal
 * arrays; bad arguments throw before anything is written.
 */
class ParallelNormsTest {

  private static final float EPS = 1e-3f;
  private static final int X_OFF = 3, Y_OFF = 5;

  /**
   * Layer/RMS norm rows x features, or a group shape. Sizes give several 512 KiB chunks (a ragged last
   * one), and one tensor of one chunk.
   */
  record Problem(String kind, int rows, int features, GroupShape g) {
    int size() {
      return g == null ? rows * features : (int) g.size();
    }

    int stats() {
      return g == null ? rows : g.statistics();
    }

    int params() {
      return g == null ? features : g.channels();
    }

    boolean rms() {
      return kind.equals("rms");
    }

    /**
     * A channels-last group norm of one sample larger than a chunk (128 Ki floats, or 1/256 of
     * the tensor): ParallelNorms splits each sample into ranges of rows, so forward and dx are another
     * summation order than the facade's (compared with a tolerance, and bit for bit across threads).
     */
    boolean ranges() {
      if (g == null || !g.channelsLast() || g.batch() >= 2 || g.spatial() < 2) return false;
      return (long) g.channels() * g.spatial() > Math.max(1 << 17, Math.ceilDiv(g.size(), 256));
    }

    @Override
    public String toString() {
      return g == null ? kind + " " + rows + "x" + features : kind + " " + g;
    }
  }

  static final List<Problem> PROBLEMS = List.of(
      new Problem("layer", 700, 769, null), // 5 chunks of 170 rows, the last 20
      new Problem("layer", 40, 33, null), // one chunk: stays on the caller
      new Problem("rms", 300, 1000, null), // 3 chunks: 131, 131, 38 rows
      new Problem("group", 0, 0, GroupShape.nhwc(20, 289, 64, 32)), // 3 chunks of 7 samples (the last 6)
      new Problem("group", 0, 0, GroupShape.nchw(20, 48, 300, 6)),
      new Problem("group", 0, 0, GroupShape.instanceNhwc(40, 169, 17)),
      new Problem("group", 0, 0, GroupShape.nchw(2, 64, 4096, 32)), // samples of 2 blocks of 16 groups: 4 chunks
      new Problem("group", 0, 0, GroupShape.nchw(1, 60, 3000, 20)), // one sample: blocks of 14 and 6 groups
      new Problem("group", 0, 0, GroupShape.nhwc(1, 4096, 64, 32)), // one channels-last sample: 2 ranges of 2048 rows
      new Problem("group", 0, 0, GroupShape.nhwc(1, 2501, 60, 4)), // 2 ranges, 1251 and 1250 rows; super rows of 240
      new Problem("group", 0, 0, GroupShape.nhwc(2, 2501, 60, 4)), // two samples larger than a chunk: whole samples
      // Samples larger than a chunk, groups of 4 (16 lanes) or 8 vectors: forward chunks are runs of 4, 3 and 2 samples at 1, 2, 3 threads
      new Problem("group", 0, 0, GroupShape.nhwc(5, 36, 2048, 32)),
      // Channels-first planes of 36 floats in samples of 288 KiB: backward chunks are runs of 2 samples (64 positions
      // per channel at least), 9 chunks, the last one sample; the forward keeps one sample a chunk
      new Problem("group", 0, 0, GroupShape.nchw(17, 2048, 36, 32)),
      new Problem("group", 0, 0, GroupShape.nchw(17, 256, 49, 32)), // 7x7 planes: the straight-line short planes at 16 lanes
      new Problem("group", 0, 0, GroupShape.nhwc(1, 300, 1023, 3))); // 3 ranges; ragged rows too wide for super rows

  static Stream<Arguments> cases() {
    List<Arguments> list = new ArrayList<>();
    for (LayerNormSupport l : LayerNormTest.impls()) {
      GroupNormSupport g = GroupNormTest.impls().stream().filter(k -> k.name().equals(l.name())).findFirst().orElseThrow();
      for (Problem p : PROBLEMS) list.add(Arguments.of(l.name(), p, l, g));
    }
    return list.stream();
  }

  /** Inputs of one problem: x and dy at offsets, gamma, beta. */
  static final class Data {
    final float[] x, dy, gamma, beta;

    Data(Problem p) {
      SplittableRandom r = new SplittableRandom(p.size());
      x = random(r, X_OFF + p.size(), 1.5, 2);
      dy = random(r, X_OFF + p.size(), 0, 1);
      gamma = random(r, p.params(), 1, 0.5);
      beta = random(r, p.params(), 0.2, 1);
    }
  }

  // ---------------------------------------------------------------- calls: parallel (threads >= 1) or facade (0)

  /** {y, mean, invStd} (invStd = invRms for RMS); training with statistics, else none. */
  static float[][] forward(Problem p, Data d, LayerNormSupport l, GroupNormSupport g, ParallelNorms pn, boolean training) {
    float[] y = new float[Y_OFF + p.size()];
    float[] mean = training && !p.rms() ? new float[p.stats()] : null, inv = training ? new float[p.stats()] : null;
    switch (p.kind()) {
      case "layer" -> {
        if (pn == null) LayerNorm.forward(l, p.rows(), p.features(), d.x, X_OFF, d.gamma, d.beta, EPS, y, Y_OFF, mean, inv);
        else pn.layerNormForward(p.rows(), p.features(), d.x, X_OFF, d.gamma, d.beta, EPS, y, Y_OFF, mean, inv);
      }
      case "rms" -> {
        if (pn == null) RmsNorm.forward(l, p.rows(), p.features(), d.x, X_OFF, d.gamma, EPS, y, Y_OFF, inv);
        else pn.rmsNormForward(p.rows(), p.features(), d.x, X_OFF, d.gamma, EPS, y, Y_OFF, inv);
      }
      default -> {
        if (pn == null) GroupNorm.forward(g, p.g(), d.x, X_OFF, d.gamma, d.beta, EPS, y, Y_OFF, mean, inv);
        else pn.groupNormForward(p.g(), d.x, X_OFF, d.gamma, d.beta, EPS, y, Y_OFF, mean, inv);
      }
    }
    return new float[][] {y, mean, inv};
  }

  /** {dx, dGamma, dBeta} given the statistics of a forward. */
  static float[][] backward(Problem p, Data d, LayerNormSupport l, GroupNormSupport g, ParallelNorms pn, float[] mean, float[] inv) {
    float[] dx = new float[Y_OFF + p.size()], dGamma = new float[p.params()], dBeta = p.rms() ? null : new float[p.params()];
    Arrays.fill(dGamma, Float.NaN); // overwritten, not accumulated into
    switch (p.kind()) {
      case "layer" -> {
        if (pn == null) LayerNorm.backward(l, p.rows(), p.features(), d.x, X_OFF, d.dy, X_OFF, d.gamma, mean, inv, dx, Y_OFF, dGamma, dBeta);
        else pn.layerNormBackward(p.rows(), p.features(), d.x, X_OFF, d.dy, X_OFF, d.gamma, mean, inv, dx, Y_OFF, dGamma, dBeta);
      }
      case "rms" -> {
        if (pn == null) RmsNorm.backward(l, p.rows(), p.features(), d.x, X_OFF, d.dy, X_OFF, d.gamma, inv, dx, Y_OFF, dGamma);
        else pn.rmsNormBackward(p.rows(), p.features(), d.x, X_OFF, d.dy, X_OFF, d.gamma, inv, dx, Y_OFF, dGamma);
      }
      default -> {
        if (pn == null) GroupNorm.backward(g, p.g(), d.x, X_OFF, d.dy, X_OFF, d.gamma, mean, inv, dx, Y_OFF, dGamma, dBeta);
        else pn.groupNormBackward(p.g(), d.x, X_OFF, d.dy, X_OFF, d.gamma, mean, inv, dx, Y_OFF, dGamma, dBeta);
      }
    }
    return new float[][] {dx, dGamma, dBeta};
  }

  // ---------------------------------------------------------------- double reference

  /** Element j of normalized set k: its index in the tensor (no offset) and its parameter index. */
  static int at(Problem p, int k, int j) {
    if (p.g() == null) return k * p.features() + j;
    GroupShape s = p.g();
    int cpg = s.channelsPerGroup(), n = k / s.groups(), c = k % s.groups() * cpg + j % cpg, pos = j / cpg;
    return GroupNormTest.index(s, n, c, pos);
  }

  static int param(Problem p, int k, int j) {
    if (p.g() == null) return j;
    GroupShape s = p.g();
    return k % s.groups() * s.channelsPerGroup() + j % s.channelsPerGroup();
  }

  /**
   * In double from the definitions: {y, mean, invStd, dx, dGamma, dBeta, |dGamma terms|, |dBeta terms|}.
   * Layer/group: xhat = (x - mean) invStd, dx = invStd (g - mean(g) - xhat mean(g xhat)); RMS: xhat = x r,
   * dx = r g - x r^3 mean(g x); g = dy gamma; dGamma = Σ dy xhat, dBeta = Σ dy.
   */
  static double[][] reference(Problem p, Data d) {
    int sets = p.stats(), size = p.size() / sets;
    double[] y = new double[p.size()], dx = new double[p.size()], mean = new double[sets], inv = new double[sets];
    double[] dG = new double[p.params()], dB = new double[p.params()], dGAbs = new double[p.params()], dBAbs = new double[p.params()];
    for (int k = 0; k < sets; k++) {
      double m = 0, q = 0;
      if (!p.rms()) {
        for (int j = 0; j < size; j++) m += d.x[X_OFF + at(p, k, j)];
        m /= size;
      }
      for (int j = 0; j < size; j++) {
        double v = d.x[X_OFF + at(p, k, j)] - m;
        q += v * v;
      }
      double s = 1 / Math.sqrt(q / size + EPS), sumG = 0, sumGXhat = 0;
      mean[k] = m;
      inv[k] = s;
      for (int j = 0; j < size; j++) {
        int i = at(p, k, j), c = param(p, k, j);
        double xhat = (d.x[X_OFF + i] - m) * s, dy = d.dy[X_OFF + i], g = dy * d.gamma[c];
        y[i] = xhat * d.gamma[c] + (p.rms() ? 0 : d.beta[c]);
        sumG += g;
        sumGXhat += g * xhat;
        dG[c] += dy * xhat;
        dGAbs[c] += Math.abs(dy * xhat);
        dB[c] += dy;
        dBAbs[c] += Math.abs(dy);
      }
      for (int j = 0; j < size; j++) {
        int i = at(p, k, j), c = param(p, k, j);
        double xhat = (d.x[X_OFF + i] - m) * s, g = d.dy[X_OFF + i] * (double) d.gamma[c];
        // RMS: r g - x r^3 mean(g x) = r (g - xhat mean(g xhat)), with xhat = x r and no mean(g) term.
        dx[i] = s * (g - (p.rms() ? 0 : sumG / size) - xhat * sumGXhat / size);
      }
    }
    return new double[][] {y, mean, inv, dx, dG, dB, dGAbs, dBAbs};
  }

  // ---------------------------------------------------------------- tests

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void sameBitsForAnyThreadCountAndMatchesFacadeAndDoubleReference(String name, Problem p, LayerNormSupport l, GroupNormSupport g) {
    Data d = new Data(p);
    double[][] ref = reference(p, d);
    float[][] facadeF = forward(p, d, l, g, null, true), facadeI = forward(p, d, l, g, null, false);
    float[][] facadeB = backward(p, d, l, g, null, facadeF[1], facadeF[2]);
    for (int threads = 1; threads <= 3; threads++) {
      try (ParallelNorms pn = new ParallelNorms(l, g, threads)) {
        for (int call = 0; call < 2; call++) { // the second call reuses the first's chunk state
          String what = p + " threads=" + threads + " call=" + call;
          float[][] f = forward(p, d, l, g, pn, true), i = forward(p, d, l, g, pn, false);
          float[][] b = backward(p, d, l, g, pn, f[1], f[2]);
          if (!p.ranges()) {
            // Forward and dx: rows and samples are independent, so the facade's bits, whatever the threads.
            for (int k = 0; k < 3; k++) assertArrayEquals(facadeF[k], f[k], what + " forward output " + k);
            assertArrayEquals(facadeI[0], i[0], what + " inference forward");
            assertArrayEquals(facadeB[0], b[0], what + " dx");
          } else {
            // Row ranges merged in double: another order than the facade's one-sample kernels.
            double maxDx = 0;
            for (int e = 0; e < p.size(); e++) maxDx = Math.max(maxDx, Math.abs(facadeB[0][Y_OFF + e]));
            for (int e = 0; e < p.size(); e++) {
              float yf = facadeF[0][Y_OFF + e], dxf = facadeB[0][Y_OFF + e];
              double tolY = 1e-5 * (1 + Math.abs(yf)), tolDx = 1e-5 * (maxDx + Math.abs(dxf));
              // The message is built only on a failure: a string per element would dominate the test's time.
              if (!(Math.abs(yf - f[0][Y_OFF + e]) <= tolY)) assertClose(what + " y[" + e + "] vs facade", yf, f[0][Y_OFF + e], tolY);
              if (!(Math.abs(yf - i[0][Y_OFF + e]) <= tolY)) assertClose(what + " inference y[" + e + "] vs facade", yf, i[0][Y_OFF + e], tolY);
              if (!(Math.abs(dxf - b[0][Y_OFF + e]) <= tolDx)) assertClose(what + " dx[" + e + "] vs facade", dxf, b[0][Y_OFF + e], tolDx);
            }
            for (int k = 0; k < p.stats(); k++) {
              assertClose(what + " mean[" + k + "] vs facade", facadeF[1][k], f[1][k], 2e-6 * (1 + Math.abs(facadeF[1][k])));
              assertClose(what + " invStd[" + k + "] vs facade", facadeF[2][k], f[2][k], 2e-6 * facadeF[2][k]);
            }
          }
          // Everything: the bits of 1 thread for 2 and 3 (the partition and the merge order depend on the shape only).
          if (threads == 1) {
            last = b;
            lastF = f;
            lastI = i;
          } else {
            for (int k = 0; k < 3; k++) assertArrayEquals(lastF[k], f[k], what + " forward output " + k + " bits against 1 thread");
            assertArrayEquals(lastI[0], i[0], what + " inference forward bits against 1 thread");
            assertArrayEquals(last[0], b[0], what + " dx bits against 1 thread");
            assertArrayEquals(last[1], b[1], what + " dGamma bits against 1 thread");
            assertArrayEquals(last[2], b[2], what + " dBeta bits against 1 thread");
          }
          for (int c = 0; c < p.params(); c++) {
            double tolG = 1e-5 * ref[6][c] + 1e-6, tolB = 1e-5 * ref[7][c] + 1e-6;
            assertClose(what + " dGamma[" + c + "] vs facade", facadeB[1][c], b[1][c], tolG);
            assertClose(what + " dGamma[" + c + "] vs double", ref[4][c], b[1][c], tolG);
            if (!p.rms()) {
              assertClose(what + " dBeta[" + c + "] vs facade", facadeB[2][c], b[2][c], tolB);
              assertClose(what + " dBeta[" + c + "] vs double", ref[5][c], b[2][c], tolB);
            }
          }
        }
      }
    }
    // ParallelNorms' outputs (so the facade's, when equal) against the double reference.
    double maxDx = Arrays.stream(ref[3]).map(Math::abs).max().orElse(0);
    for (int e = 0; e < p.size(); e++) {
      double tolY = 1e-4 * (1 + Math.abs(ref[0][e])), tolDx = 1e-4 * (maxDx + Math.abs(ref[3][e]));
      if (!(Math.abs(ref[0][e] - lastF[0][Y_OFF + e]) <= tolY)) assertClose(p + " y[" + e + "]", ref[0][e], lastF[0][Y_OFF + e], tolY);
      if (!(Math.abs(ref[3][e] - last[0][Y_OFF + e]) <= tolDx)) assertClose(p + " dx[" + e + "]", ref[3][e], last[0][Y_OFF + e], tolDx);
    }
    for (int k = 0; k < p.stats(); k++) {
      if (!p.rms()) assertClose(p + " mean[" + k + "]", ref[1][k], lastF[1][k], 1e-5 * (1 + Math.abs(ref[1][k])));
      assertClose(p + " invStd[" + k + "]", ref[2][k], lastF[2][k], 1e-5 * ref[2][k]);
    }
  }

  private float[][] last, lastF, lastI;

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void segmentsGiveTheArraysBits(String name, Problem p, LayerNormSupport l, GroupNormSupport g) {
    Data d = new Data(p);
    int n = p.size();
    long off = 12; // bytes
    float[] x = Arrays.copyOfRange(d.x, X_OFF, X_OFF + n), dy = Arrays.copyOfRange(d.dy, X_OFF, X_OFF + n);
    try (ParallelNorms pn = new ParallelNorms(l, g, 2)) {
      float[][] f = forward(p, d, l, g, pn, true), b = backward(p, d, l, g, pn, f[1], f[2]);
      float[] y = Arrays.copyOfRange(f[0], Y_OFF, Y_OFF + n), dx = Arrays.copyOfRange(b[0], Y_OFF, Y_OFF + n);
      for (int kind = 0; kind < 3; kind++) { // heap, shared native, confined native (runs on the caller)
        String what = p + (kind == 0 ? " heap" : kind == 1 ? " shared native" : " confined native");
        try (Arena arena = kind == 2 ? Arena.ofConfined() : Arena.ofShared()) {
          boolean heap = kind == 0;
          MemorySegment xs = segment(arena, heap, x, off), ys = segment(arena, heap, new float[n], off);
          MemorySegment dys = segment(arena, heap, dy, off), dxs = segment(arena, heap, new float[n], off);
          float[] mean = p.rms() ? null : new float[p.stats()], inv = new float[p.stats()];
          float[] dGamma = new float[p.params()], dBeta = p.rms() ? null : new float[p.params()];
          switch (p.kind()) {
            case "layer" -> {
              pn.layerNormForward(p.rows(), p.features(), xs, off, d.gamma, d.beta, EPS, ys, off, mean, inv);
              pn.layerNormBackward(p.rows(), p.features(), xs, off, dys, off, d.gamma, mean, inv, dxs, off, dGamma, dBeta);
            }
            case "rms" -> {
              pn.rmsNormForward(p.rows(), p.features(), xs, off, d.gamma, EPS, ys, off, inv);
              pn.rmsNormBackward(p.rows(), p.features(), xs, off, dys, off, d.gamma, inv, dxs, off, dGamma);
            }
            default -> {
              pn.groupNormForward(p.g(), xs, off, d.gamma, d.beta, EPS, ys, off, mean, inv);
              pn.groupNormBackward(p.g(), xs, off, dys, off, d.gamma, mean, inv, dxs, off, dGamma, dBeta);
            }
          }
          assertArrayEquals(y, read(ys, off, n), what + " y");
          assertArrayEquals(f[1], mean, what + " mean");
          assertArrayEquals(f[2], inv, what + " invStd");
          assertArrayEquals(dx, read(dxs, off, n), what + " dx");
          assertArrayEquals(b[1], dGamma, what + " dGamma");
          assertArrayEquals(b[2], dBeta, what + " dBeta");
          // In place over native memory (y == x, dx == dy), still the same bits.
          if (!heap && p.kind().equals("layer")) {
            pn.layerNormForward(p.rows(), p.features(), xs, off, d.gamma, d.beta, EPS, xs, off, mean, inv);
            assertArrayEquals(y, read(xs, off, n), what + " in place y");
          }
        }
      }
    }
  }

  @Test
  void badArgumentsThrowNamingTheArgumentAndWriteNothing() {
    int rows = 300, features = 1000, n = rows * features; // several chunks: nothing may start before the checks
    float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n];
    for (int i = 0; i < n; i++) x[i] = dy[i] = i % 7;
    float[] gamma = new float[features], beta = new float[features], mean = new float[rows], inv = new float[rows];
    Arrays.fill(gamma, 1f);
    Arrays.fill(inv, 1f);
    float[] dG = new float[features], dB = new float[features], big = new float[2 * n];
    GroupShape gs = GroupShape.nhwc(30, 100, 100, 10);
    float[] gMean = new float[gs.statistics()], gInv = new float[gs.statistics()];
    Arrays.fill(gInv, 1f);
    try (ParallelNorms pn = new ParallelNorms(2); Arena arena = Arena.ofShared()) {
      MemorySegment xs = arena.allocate(4L * n), ys = arena.allocate(4L * n);
      List<Object[]> cases = List.of(
          bad("gamma", () -> pn.layerNormForward(rows, features, x, 0, new float[4], beta, EPS, y, 0, mean, inv)),
          bad("beta", () -> pn.layerNormForward(rows, features, x, 0, gamma, new float[6], EPS, y, 0, mean, inv)),
          bad("mean", () -> pn.layerNormForward(rows, features, x, 0, gamma, beta, EPS, y, 0, new float[2], inv)),
          bad("epsilon", () -> pn.layerNormForward(rows, features, x, 0, gamma, beta, 0f, y, 0, mean, inv)),
          bad("y", () -> pn.layerNormForward(rows, features, x, 0, gamma, beta, EPS, y, 1, mean, inv)),
          bad("overlaps", () -> pn.layerNormForward(rows, features, big, 0, gamma, beta, EPS, big, 2, mean, inv)),
          bad("features", () -> pn.rmsNormForward(rows, 0, x, 0, gamma, EPS, y, 0, inv)),
          bad("invRms", () -> pn.rmsNormForward(rows, features, x, 0, gamma, EPS, y, 0, gamma)),
          bad("dGamma", () -> pn.layerNormBackward(rows, features, x, 0, dy, 0, gamma, mean, inv, dx, 0, gamma, dB)),
          bad("dx", () -> pn.layerNormBackward(rows, features, x, 0, dy, 0, gamma, mean, inv, dx, 3, dG, dB)),
          bad("invRms", () -> pn.rmsNormBackward(rows, features, x, 0, dy, 0, gamma, null, dx, 0, dG)),
          bad("dGamma", () -> pn.rmsNormBackward(rows, features, x, 0, dy, 0, gamma, inv, dx, 0, new float[3])),
          bad("read-only", () -> pn.layerNormForward(rows, features, xs, 0, gamma, beta, EPS, ys.asReadOnly(), 0, mean, inv)),
          bad("y", () -> pn.rmsNormForward(rows, features, xs, 0, gamma, EPS, ys, 8, inv)),
          bad("mean", () -> pn.groupNormForward(gs, x, 0, null, null, EPS, y, 0, new float[3], gInv)),
          bad("gamma", () -> pn.groupNormForward(gs, x, 0, new float[7], null, EPS, y, 0, gMean, gInv)),
          bad("invStd", () -> pn.groupNormBackward(gs, x, 0, dy, 0, new float[100], gMean, null, dx, 0, new float[100], null)),
          bad("dBeta", () -> pn.groupNormBackward(gs, x, 0, dy, 0, new float[100], gMean, gInv, dx, 0, null, new float[5])),
          bad("x", () -> pn.groupNormForward(gs, xs, 4, new float[100], null, EPS, ys, 0, gMean, gInv)));
      for (Object[] c : cases) {
        String expected = (String) c[0];
        Throwable t = assertThrows(RuntimeException.class, (Executable) c[1], expected);
        assertTrue(t instanceof IllegalArgumentException || t instanceof NullPointerException, expected + ": " + t);
        assertTrue(String.valueOf(t.getMessage()).contains(expected), "message should name " + expected + ": " + t.getMessage());
        for (float[] out : new float[][] {y, dx, dG, dB, mean, gMean, big}) for (float v : out) assertTrue(v == 0, expected + ": an output was written");
        for (float[] one : new float[][] {inv, gInv, gamma}) for (float v : one) assertTrue(v == 1f, expected + ": an input was written");
        for (float v : read(ys, 0, n)) assertTrue(v == 0, expected + ": the y segment was written");
      }
    }
  }

  @Test
  void executorGivesTheOwnedPoolsBitsEvenWhenSaturatedOrShutDown() throws Exception {
    LayerNormSupport l = VectorizationProvider.layerNorm();
    GroupNormSupport g = VectorizationProvider.groupNorm();
    ExecutorService one = Executors.newFixedThreadPool(1), two = Executors.newFixedThreadPool(2), dead = Executors.newSingleThreadExecutor();
    dead.shutdown();
    try (ParallelNorms owned = new ParallelNorms(2); ParallelNorms onTwo = new ParallelNorms(two); ParallelNorms onOne = new ParallelNorms(one);
         ParallelNorms onDead = new ParallelNorms(dead)) {
      for (Problem p : List.of(PROBLEMS.get(0), PROBLEMS.get(6))) { // 5 row chunks; 4 chunks of group blocks
        Data d = new Data(p);
        float[][] f = forward(p, d, l, g, owned, true), b = backward(p, d, l, g, owned, f[1], f[2]);
        // From a task of a saturated one-thread executor its helper never starts: the caller runs every chunk.
        Future<float[][]> nested = one.submit(() -> backward(p, d, l, g, onOne, f[1], f[2]));
        for (ParallelNorms pn : new ParallelNorms[] {onTwo, onDead}) {
          float[][] fe = forward(p, d, l, g, pn, true), be = backward(p, d, l, g, pn, f[1], f[2]);
          for (int k = 0; k < 3; k++) {
            assertArrayEquals(f[k], fe[k], p + " forward " + k);
            assertArrayEquals(b[k], be[k], p + " backward " + k);
          }
        }
        float[][] bn = nested.get(60, TimeUnit.SECONDS);
        for (int k = 0; k < 3; k++) assertArrayEquals(b[k], bn[k], p + " nested backward " + k);
      }
    } finally {
      // The instances are closed by now; close() leaves a caller's executor running.
      assertTrue(!one.isShutdown() && !two.isShutdown(), "close() shut down the caller's executor");
      one.shutdownNow();
      two.shutdownNow();
    }
  }

  @Test
  void closedInstanceRejectsCalls() {
    ParallelNorms pn = new ParallelNorms(2);
    assertEquals(2, pn.threads());
    pn.close();
    pn.close(); // idempotent
    float[] x = new float[4], y = new float[4];
    assertThrows(IllegalStateException.class, () -> pn.layerNormForward(2, 2, x, 0, null, null, EPS, y, 0, null, null));
    assertThrows(IllegalArgumentException.class, () -> new ParallelNorms(0));
  }

  private static Object[] bad(String name, Executable call) {
    return new Object[] {name, call};
  }
}
