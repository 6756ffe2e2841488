package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Hard numerics: large offsets, zero variance, batch of one, NaN/Inf, gradients by finite differences. */
class NumericsTest {

  static final float EPS = 1e-3f;

  static Stream<Arguments> implementationsAndLayouts() {
    return Implementations.all().stream().flatMap(k -> Stream.of(
        Arguments.of(k.impl().name(), k, NormShape.channelsLast(200_000, 17)),
        Arguments.of(k.impl().name(), k, NormShape.channelsFirst(40, 3, 5_000))));
  }

  /**
   * 1e4 + N(0, 0.01): a one-pass E[x^2] - E[x]^2 in float returns garbage (often negative) here.
   * The variance must match the double reference on the same float data to 1e-3 relative, and the
   * normalized output to 2e-3 absolute (the data itself is quantized to ulp(1e4) = 1e-3 = 0.1 std).
   */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implementationsAndLayouts")
  void largeOffsetKeepsVarianceAndOutputAccurate(String name, Kernels k, NormShape s) {
    SplittableRandom r = new SplittableRandom(7);
    float[] x = new float[(int) s.size()];
    for (int i = 0; i < x.length; i++) x[i] = (float) (1e4 + 0.01 * r.nextGaussian());
    int C = s.channels();
    float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
    k.forwardTraining(s, x, 0, null, null, 1e-9f, y, 0, mean, var, inv);
    double[][] ref = Reference.moments(s, x, 0);
    for (int c = 0; c < C; c++) {
      assertClose("mean[" + c + "]", ref[0][c], mean[c], 1e-3 * Math.sqrt(ref[1][c]) + Math.ulp(1e4f));
      assertClose("variance[" + c + "]", ref[1][c], var[c], 1e-3 * ref[1][c]);
    }
    double[] yRef = Reference.normalize(s, x, 0, ref[0], ref[1], 1e-9, null, null);
    double worst = 0;
    for (int i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(yRef[i] - y[i]));
    assertTrue(worst < 0.1, "normalized output off by " + worst + " std (the mean's float rounding bounds this)");
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implementationsAndLayouts")
  void constantChannelsHaveZeroVarianceAndOutputBeta(String name, Kernels k, NormShape s) {
    int C = s.channels();
    float[] x = new float[(int) s.size()];
    for (int o = 0; o < s.outer(); o++) {
      for (int c = 0; c < C; c++) {
        for (int i = 0; i < s.inner(); i++) x[Reference.index(s, o, c, i)] = 1234.5f + c;
      }
    }
    float[] beta = Reference.perChannel(C, 0, 1, 3), gamma = Reference.perChannel(C, 1, 1, 4);
    float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
    k.forwardTraining(s, x, 0, gamma, beta, EPS, y, 0, mean, var, inv);
    for (int c = 0; c < C; c++) {
      assertEquals(1234.5f + c, mean[c], "mean[" + c + "]");
      assertEquals(0f, var[c], "variance[" + c + "]");
      assertEquals((float) (1 / Math.sqrt(EPS)), inv[c], 1e-6f * inv[c]);
    }
    for (int o = 0; o < s.outer(); o++) {
      for (int c = 0; c < C; c++) assertEquals(beta[c], y[Reference.index(s, o, c, 0)], "y at channel " + c);
    }
  }

  static Stream<Arguments> awkwardChannelsLast() {
    return Implementations.all().stream().flatMap(k -> java.util.stream.IntStream.of(1, 7, 9, 15, 16, 17, 31, 33, 100, 1023)
        .mapToObj(c -> Arguments.of(k.impl().name(), k, NormShape.channelsLast(c == 1023 ? 403 : 2003, c))));
  }

  /**
   * The channels-last statistics sum values shifted by a pivot in one pass; that is accurate only while
   * the pivot is near the data. Data 1e4 + N(0, 0.01) with, in turn: the first row 10^4 std above the
   * rest; the first eight rows 100 std above (the first pivot, a mean of the first rows, then sits far
   * from the data); nothing. In odd channels the mean also jumps by 100 std halfway (later blocks pivot
   * on the running mean, then far from the new data). Mean and variance must match the double
   * reference on the same float data over awkward channel counts: the variance to 3e-5 relative, far
   * inside the 1e-3 contract (the blocked two-pass scalar kernels lose 1.4e-5 here). A one-pass that
   * pivoted on the first row alone lost 4e-5 here; pivoting on the mean of the first rows bounds the
   * loss to log2(1 + n/8) bits for a block of n rows, and the cancellation guard caps it at 3 bits.
   */
  static final double PIVOT_TOLERANCE = 3e-5;

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("awkwardChannelsLast")
  void pivotFarFromTheDataKeepsMomentsAccurate(String name, Kernels k, NormShape s) {
    int C = s.channels(), rows = s.outer();
    for (String start : new String[] {"first row +100", "first 8 rows +1", "no outlier"}) {
      SplittableRandom r = new SplittableRandom(s.channels());
      float[] x = new float[(int) s.size()];
      for (int row = 0; row < rows; row++) {
        double offset = switch (start) {
          case "first row +100" -> row == 0 ? 100 : 0;
          case "first 8 rows +1" -> row < 8 ? 1 : 0;
          default -> 0;
        };
        for (int c = 0; c < C; c++) {
          double jump = c % 2 == 1 && row >= rows / 2 ? 1 : 0;
          x[row * C + c] = (float) (1e4 + offset + jump + 0.01 * r.nextGaussian());
        }
      }
      float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
      k.forwardTraining(s, x, 0, null, null, EPS, y, 0, mean, var, inv);
      double[][] ref = Reference.moments(s, x, 0);
      for (int c = 0; c < C; c++) {
        assertClose(start + ": mean[" + c + "]", ref[0][c], mean[c], 1e-3 * Math.sqrt(ref[1][c]) + Math.ulp(1e4f));
        assertClose(start + ": variance[" + c + "]", ref[1][c], var[c], PIVOT_TOLERANCE * ref[1][c]);
      }
    }
  }

  static Stream<Kernels> kernels() {
    return Implementations.all().stream();
  }

  @ParameterizedTest
  @MethodSource("kernels")
  void batchOfOneNormalizesToBetaAndHasZeroGradient(Kernels k) {
    NormShape s = NormShape.channelsLast(1, 19);
    float[] x = Reference.perChannel(19, 3, 10, 1), dy = Reference.perChannel(19, 0, 1, 2);
    float[] gamma = Reference.perChannel(19, 1, 1, 3), beta = Reference.perChannel(19, 0, 1, 4);
    float[] mean = new float[19], var = new float[19], inv = new float[19], y = new float[19];
    k.forwardTraining(s, x, 0, gamma, beta, EPS, y, 0, mean, var, inv);
    float[] dx = new float[19], dGamma = new float[19], dBeta = new float[19];
    k.backward(s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
    for (int c = 0; c < 19; c++) {
      assertEquals(x[c], mean[c]);
      assertEquals(0f, var[c]);
      assertEquals(beta[c], y[c]);
      assertEquals(dy[c], dBeta[c]);
      assertEquals(0f, dGamma[c]);
      assertClose("dx[" + c + "]", 0, dx[c], 1e-5 * Math.abs(gamma[c] * inv[c] * dy[c]));
    }
  }

  @ParameterizedTest
  @MethodSource("kernels")
  void nanAndInfinityStayInTheirChannel(Kernels k) {
    NormShape s = NormShape.channelsLast(1000, 20);
    float[] x = Reference.data(s, 0, 5);
    x[20 * 500 + 3] = Float.NaN;
    x[20 * 10 + 11] = Float.POSITIVE_INFINITY;
    float[] mean = new float[20], var = new float[20], inv = new float[20], y = new float[x.length];
    k.forwardTraining(s, x, 0, null, null, EPS, y, 0, mean, var, inv);
    assertTrue(Float.isNaN(mean[3]) && Float.isNaN(y[20 * 7 + 3]), "NaN propagates through channel 3");
    assertTrue(!Float.isFinite(mean[11]) || !Float.isFinite(var[11]), "Inf propagates through channel 11");
    for (int c = 0; c < 20; c++) {
      if (c != 3 && c != 11) {
        assertFalse(Float.isNaN(mean[c]) || Float.isNaN(var[c]) || Float.isNaN(y[20 * 7 + c]), "channel " + c + " untouched by NaN");
      }
    }
    NormShape cf = NormShape.channelsFirst(4, 3, 100);
    float[] xf = Reference.data(cf, 0, 6);
    xf[Reference.index(cf, 2, 1, 50)] = Float.NaN;
    float[] mf = new float[3], vf = new float[3], invf = new float[3], yf = new float[xf.length];
    k.forwardTraining(cf, xf, 0, null, null, EPS, yf, 0, mf, vf, invf);
    assertTrue(Float.isNaN(mf[1]) && Float.isFinite(mf[0]) && Float.isFinite(mf[2]));
  }

  /** Central finite differences of the double-precision forward against the float backward. */
  @ParameterizedTest
  @MethodSource("kernels")
  void backwardMatchesFiniteDifferences(Kernels k) {
    for (NormShape s : new NormShape[] {NormShape.channelsLast(6, 11), NormShape.channelsFirst(3, 2, 9)}) {
      int C = s.channels(), n = (int) s.size();
      float[] x = Reference.data(s, 0, 11), w = Reference.data(s, 0, 12);
      float[] gamma = Reference.perChannel(C, 1, 0.5, 13), beta = Reference.perChannel(C, 0, 1, 14);
      float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[n];
      k.forwardTraining(s, x, 0, gamma, beta, EPS, y, 0, mean, var, inv);
      float[] dx = new float[n], dGamma = new float[C], dBeta = new float[C];
      k.backward(s, x, 0, w, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);

      double[] xd = KernelsTest.toDouble(x), gd = KernelsTest.toDouble(gamma), bd = KernelsTest.toDouble(beta);
      double h = 1e-4;
      for (int i = 0; i < n; i++) {
        double saved = xd[i];
        xd[i] = saved + h;
        double up = loss(s, xd, gd, bd, w);
        xd[i] = saved - h;
        double down = loss(s, xd, gd, bd, w);
        xd[i] = saved;
        assertClose(s + " dx[" + i + "]", (up - down) / (2 * h), dx[i], 1e-3 * (1 + Math.abs(dx[i])));
      }
      for (int c = 0; c < C; c++) {
        double saved = gd[c];
        gd[c] = saved + h;
        double up = loss(s, xd, gd, bd, w);
        gd[c] = saved - h;
        double down = loss(s, xd, gd, bd, w);
        gd[c] = saved;
        assertClose(s + " dGamma[" + c + "]", (up - down) / (2 * h), dGamma[c], 1e-3 * (1 + Math.abs(dGamma[c])));
        saved = bd[c];
        bd[c] = saved + h;
        up = loss(s, xd, gd, bd, w);
        bd[c] = saved - h;
        down = loss(s, xd, gd, bd, w);
        bd[c] = saved;
        assertClose(s + " dBeta[" + c + "]", (up - down) / (2 * h), dBeta[c], 1e-3 * (1 + Math.abs(dBeta[c])));
      }
    }
  }

  /** sum(w * BN_train(x)) in double. */
  static double loss(NormShape s, double[] x, double[] gamma, double[] beta, float[] w) {
    double total = 0, n = s.countPerChannel();
    for (int c = 0; c < s.channels(); c++) {
      double sum = 0, sq = 0;
      for (int o = 0; o < s.outer(); o++) for (int i = 0; i < s.inner(); i++) sum += x[Reference.index(s, o, c, i)];
      double mean = sum / n;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          double d = x[Reference.index(s, o, c, i)] - mean;
          sq += d * d;
        }
      }
      double inv = 1 / Math.sqrt(sq / n + EPS);
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int idx = Reference.index(s, o, c, i);
          total += w[idx] * (gamma[c] * (x[idx] - mean) * inv + beta[c]);
        }
      }
    }
    return total;
  }
}
