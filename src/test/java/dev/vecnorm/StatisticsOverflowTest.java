package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Statistics at the edges of float range (issue 10.1): accurate wherever the true mean and variance are
 * finite floats, even when float sums or n * var overflow; otherwise the rule of
 * {@code BatchNormSupport.moments} (mean = the double sum(x)/n, variance NaN for NaN/Inf data; variance
 * +Inf for finite data spread beyond Float.MAX_VALUE), bit for bit the same for every layout, both
 * implementations, chunked calls merged by {@code Staging.mergeChunk} and {@link ParallelBatchNorm}.
 * The expectation is computed in double from the definitions; finite results must match it to 1e-3
 * relative (variance) and 1e-3 std (mean), the accuracy contract of NumericsTest (chunks pass their mean
 * as a float, so a merge of chunks of data with std near ulp(mean) loses ~1e-4 relative).
 */
class StatisticsOverflowTest {

  /** Cases, one per channel (channel c holds case c % CASES). */
  static final int CASES = 11;

  /** Value of row r (of rows) in channel c. */
  static float value(int c, int r, int rows, SplittableRandom random) {
    double g = random.nextGaussian();
    return switch (c % CASES) {
      case 0 -> (float) (3 + 2 * g);
      case 1 -> (float) (1e18 * g);                                    // var 1e36: n * var overflows float
      case 2 -> Float.MAX_VALUE;                                       // sums overflow; mean MAX, var 0
      case 3 -> -Float.MAX_VALUE;
      case 4 -> r % 2 == 0 ? Float.MAX_VALUE : -Float.MAX_VALUE;      // mean 0, var MAX^2: +Inf
      case 5 -> r == rows / 2 ? Float.NaN : (float) g;
      case 6 -> r == 1 ? Float.POSITIVE_INFINITY : (float) g;
      case 7 -> r == 1 ? Float.POSITIVE_INFINITY : r == rows - 2 ? Float.NEGATIVE_INFINITY : (float) g;
      case 8 -> r == 0 ? Float.NEGATIVE_INFINITY : (float) g;         // the first row is every kernel's pivot
      case 9 -> (float) (1e23 + 1e18 * g);   // large offset and spread (std = 120 ulp of the mean, which chunks pass as a float)
      default -> (float) (1e19 * g);                                   // var 1e38, just below MAX
    };
  }

  /** A tensor of shape s whose channel c holds case c % CASES over its n = outer*inner elements. */
  static float[] tensor(NormShape s, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] x = new float[(int) s.size()];
    int rows = (int) s.countPerChannel();
    for (int o = 0; o < s.outer(); o++) {
      for (int c = 0; c < s.channels(); c++) {
        for (int i = 0; i < s.inner(); i++) x[Reference.index(s, o, c, i)] = value(c, o * s.inner() + i, rows, random);
      }
    }
    return x;
  }

  /** {mean, variance} per channel by the documented rule, in double. */
  static double[][] expected(NormShape s, float[] x) {
    int C = s.channels();
    double n = s.countPerChannel();
    double[] mean = new double[C], var = new double[C];
    for (int c = 0; c < C; c++) {
      double sum = 0;
      for (int o = 0; o < s.outer(); o++) for (int i = 0; i < s.inner(); i++) sum += x[Reference.index(s, o, c, i)];
      mean[c] = sum / n;
      if (!Double.isFinite(mean[c])) {
        var[c] = Double.NaN;
        continue;
      }
      double sq = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          double d = x[Reference.index(s, o, c, i)] - mean[c];
          sq += d * d;
        }
      }
      var[c] = sq / n;
    }
    return new double[][] {mean, var};
  }

  static void check(String what, double[][] ref, float[] mean, float[] var) {
    for (int c = 0; c < mean.length; c++) {
      String at = what + " channel " + c + " (case " + c % CASES + ")";
      float m = (float) ref[0][c], v = (float) ref[1][c];
      if (Float.isFinite(m)) {
        double spread = Math.sqrt(ref[1][c]); // double: finite for finite data
        assertClose(at + " mean", ref[0][c], mean[c], 1e-3 * spread + Math.ulp(m));
      } else {
        assertEquals(m, mean[c], at + " mean"); // bits of +-Inf or NaN (assertEquals compares floatToIntBits)
      }
      if (Float.isFinite(v)) {
        assertClose(at + " variance", ref[1][c], var[c], 1e-3 * ref[1][c]);
      } else {
        assertEquals(v, var[c], at + " variance");
      }
    }
  }

  static Stream<Arguments> cases() {
    List<Arguments> list = new ArrayList<>();
    NormShape[] shapes = {
        NormShape.channelsLast(1000, CASES), NormShape.channelsLast(1000, 37), NormShape.channelsLast(1000, 1),
        NormShape.channelsLast(1000, 64), NormShape.channelsFirst(100, CASES, 10), NormShape.channelsFirst(1, CASES, 1000),
        NormShape.channelsFirst(250, 3, 4)};
    for (Kernels k : Implementations.all()) {
      for (NormShape s : shapes) list.add(Arguments.of(k.impl().name(), k, s));
    }
    return list.stream();
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("cases")
  void oneCallFollowsTheRule(String name, Kernels k, NormShape s) {
    float[] x = tensor(s, 1);
    int C = s.channels();
    float[] mean = new float[C], var = new float[C];
    k.impl().moments(x, 0, s.outer(), C, s.inner(), mean, var);
    check(name + " " + s, expected(s, x), mean, var);
  }

  /** Three chunks of outer slices, merged in order as ParallelBatchNorm and Staging merge them. */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("cases")
  void chunksMergedInOrderFollowTheRule(String name, Kernels k, NormShape s) {
    if (s.outer() < 3) return;
    float[] x = tensor(s, 2);
    int C = s.channels(), slab = C * s.inner();
    double[] count = new double[C], runMean = new double[C], runM2 = new double[C];
    int[] cuts = {0, s.outer() / 3, s.outer() / 3 + s.outer() / 2, s.outer()};
    for (int part = 0; part < 3; part++) {
      int outer = cuts[part + 1] - cuts[part];
      float[] chunkMean = new float[C], chunkResidual = new float[C], chunkVar = new float[C];
      k.impl().moments(x, cuts[part] * slab, outer, C, s.inner(), chunkMean, chunkResidual, chunkVar);
      Staging.mergeChunk(count, runMean, runM2, 0, chunkMean, chunkResidual, chunkVar, (double) outer * s.inner());
    }
    float[] mean = new float[C], var = new float[C];
    for (int c = 0; c < C; c++) {
      mean[c] = (float) runMean[c];
      var[c] = (float) (runM2[c] / count[c]);
    }
    check(name + " " + s + " in 3 chunks", expected(s, x), mean, var);
  }

  static Stream<Kernels> kernels() {
    return Implementations.all().stream();
  }

  /** Big enough for several ParallelBatchNorm chunks; NaN, +Inf and -Inf land in different chunks. */
  @ParameterizedTest
  @MethodSource("kernels")
  void parallelChunksFollowTheRule(Kernels k) throws Exception {
    NormShape s = NormShape.channelsLast(3 * ParallelBatchNorm.CHUNK_FLOATS / CASES + 7, CASES);
    float[] x = tensor(s, 3);
    double[][] ref = expected(s, x);
    int C = s.channels();
    try (ParallelBatchNorm p = new ParallelBatchNorm(k.impl(), 2)) {
      float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
      p.forwardTraining(s, x, 0, null, null, 1e-3f, y, 0, mean, var, inv);
      check(k.impl().name() + " parallel " + s, ref, mean, var);
    }
  }

  /** The variance that overflowed to Inf reaches y as NaN, not as a silent y = beta. */
  @ParameterizedTest
  @MethodSource("kernels")
  void infiniteVarianceIsVisibleInTheOutput(Kernels k) {
    NormShape s = NormShape.channelsLast(1000, CASES);
    float[] x = tensor(s, 4);
    int C = s.channels();
    float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
    float[] beta = Reference.perChannel(C, 0, 1, 5);
    k.forwardTraining(s, x, 0, null, beta, 1e-3f, y, 0, mean, var, inv);
    assertEquals(Float.POSITIVE_INFINITY, var[4]);
    assertTrue(Float.isNaN(inv[4]) && Float.isNaN(y[4]), "invStd and y of the +Inf-variance channel are NaN");
    assertClose("variance 1e36", expected(s, x)[1][1], var[1], 1e-4 * 1e36);
    assertTrue(Float.isFinite(inv[1]) && inv[1] > 0, "invStd of the 1e36-variance channel");
  }
}
