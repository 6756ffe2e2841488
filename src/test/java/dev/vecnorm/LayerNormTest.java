package dev.vecnorm;

import static dev.vecnorm.NormTesting.assertClose;
import static dev.vecnorm.NormTesting.assertGradient;
import static dev.vecnorm.NormTesting.assertRejectedBeforeWriting;
import static dev.vecnorm.NormTesting.centralDifferences;
import static dev.vecnorm.NormTesting.normalized;
import static dev.vecnorm.NormTesting.normalizedRows;
import static dev.vecnorm.NormTesting.random;
import static dev.vecnorm.NormTesting.read;
import static dev.vecnorm.NormTesting.segment;
import static dev.vecnorm.NormTesting.slice;
import static dev.vecnorm.NormTesting.toDouble;
import static dev.vecnorm.NormTesting.weightedSum;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.NormTesting.BadCall;

import dev.vecnorm.internal.LayerNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * LayerNorm and RmsNorm, both implementations, against a double-precision reference written here from
 * the definitions (not from the kernels): forward to 1e-4 (abs + rel), backward against central finite
 * differences of the double reference, segments equal to arrays, bad arguments leave outputs untouched.
 */
class LayerNormTest {

  static final int[] FEATURES = {1, 7, 8, 15, 16, 17, 768, 1023};

  static List<LayerNormSupport> impls() {
    return NormTesting.implementations(VectorizationProvider.scalarLayerNorm(), VectorizationProvider.panamaLayerNorm());
  }

  static Stream<Arguments> implsAndFeatures() {
    return impls().stream().flatMap(k -> java.util.Arrays.stream(FEATURES).mapToObj(f -> Arguments.of(k.name(), k, f)));
  }

  static Stream<Arguments> implementations() {
    return impls().stream().map(k -> Arguments.of(k.name(), k));
  }

  // ---------------------------------------------------------------- double reference

  /** y of one row of layer norm (rms == false) or RMS norm (rms == true), in double; stat receives mean and invStd (invRms). */
  static double[] refRow(double[] x, double[] gamma, double[] beta, double eps, boolean rms, double[] stat) {
    double[] y = normalized(x, eps, rms, stat);
    for (int f = 0; f < y.length; f++) y[f] = y[f] * (gamma == null ? 1 : gamma[f]) + (beta == null ? 0 : beta[f]);
    return y;
  }

  /** Row r of a rows x features block at off, in double. */
  static double[] row(float[] a, int off, int features, int r) {
    return slice(a, off + r * features, features);
  }

  // ---------------------------------------------------------------- forward

  @ParameterizedTest(name = "{0} features={2}")
  @MethodSource("implsAndFeatures")
  void layerNormForwardMatchesDoubleReference(String name, LayerNormSupport k, int features) {
    SplittableRandom rnd = new SplittableRandom(features);
    int rows = 5, xOff = 3, yOff = 5;
    float[] x = random(rnd, xOff + rows * features, 2, 3), y = new float[yOff + rows * features + 2];
    float[] gamma = random(rnd, features, 1, 0.5), beta = random(rnd, features, 0, 1);
    float[][] variants = {gamma, beta, null, beta, gamma, null, null, null};
    for (int v = 0; v < variants.length; v += 2) {
      float[] g = variants[v], b = variants[v + 1], mean = new float[rows], inv = new float[rows];
      LayerNorm.forward(k, rows, features, x, xOff, g, b, 1e-3f, y, yOff, mean, inv);
      for (int r = 0; r < rows; r++) {
        double[] st = new double[2];
        double[] ref = refRow(row(x, xOff, features, r), toDouble(g), toDouble(b), 1e-3f, false, st);
        assertClose("mean[" + r + "]", st[0], mean[r], 1e-5 * (1 + Math.abs(st[0])));
        assertClose("invStd[" + r + "]", st[1], inv[r], 1e-5 * st[1]);
        for (int f = 0; f < features; f++) assertClose("y[" + r + "," + f + "]", ref[f], y[yOff + r * features + f], 1e-4 * (1 + Math.abs(ref[f])));
      }
    }
    assertTrue(y[0] == 0 && y[y.length - 1] == 0, "nothing written outside y's range");
  }

  @ParameterizedTest(name = "{0} features={2}")
  @MethodSource("implsAndFeatures")
  void rmsNormForwardMatchesDoubleReference(String name, LayerNormSupport k, int features) {
    SplittableRandom rnd = new SplittableRandom(100 + features);
    int rows = 4, xOff = 1, yOff = 2;
    float[] x = random(rnd, xOff + rows * features, 0.5, 2), y = new float[yOff + rows * features];
    float[] gamma = random(rnd, features, 1, 0.5);
    for (float[] g : new float[][] {gamma, null}) {
      float[] inv = new float[rows];
      RmsNorm.forward(k, rows, features, x, xOff, g, 1e-6f, y, yOff, inv);
      for (int r = 0; r < rows; r++) {
        double[] st = new double[2];
        double[] ref = refRow(row(x, xOff, features, r), toDouble(g), null, 1e-6f, true, st);
        assertClose("invRms[" + r + "]", st[1], inv[r], 1e-5 * st[1]);
        for (int f = 0; f < features; f++) assertClose("y[" + r + "," + f + "]", ref[f], y[yOff + r * features + f], 1e-4 * (1 + Math.abs(ref[f])));
      }
    }
  }

  /** 1e4 + N(0, 0.01): a float E[x²] - E[x]² gives noise; the two-pass row variance holds 1e-3 relative. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void largeOffsetRowsKeepVarianceAccurate(String name, LayerNormSupport k) {
    SplittableRandom rnd = new SplittableRandom(7);
    int rows = 8, features = 4096;
    float[] x = random(rnd, rows * features, 1e4, 0.01), y = new float[x.length], mean = new float[rows], inv = new float[rows];
    float eps = 1e-12f;
    LayerNorm.forward(k, rows, features, x, 0, null, null, eps, y, 0, mean, inv);
    for (int r = 0; r < rows; r++) {
      double[] st = new double[2];
      refRow(row(x, 0, features, r), null, null, eps, false, st);
      double refVar = 1 / (st[1] * st[1]) - eps, var = 1 / ((double) inv[r] * inv[r]) - eps;
      assertClose("variance[" + r + "]", refVar, var, 1e-3 * refVar);
    }
  }

  /**
   * A first feature far from the rest: the Panama forward's one-read statistics are shifted by it and
   * would cancel digits, so such rows must take its two-pass path and hold the main test's tolerances.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void outlierFirstFeatureKeepsStatisticsAccurate(String name, LayerNormSupport k) {
    SplittableRandom rnd = new SplittableRandom(11);
    int rows = 4, features = 4096;
    float[] x = random(rnd, rows * features, 1e4, 0.01), y = new float[x.length], mean = new float[rows], inv = new float[rows];
    for (int r = 0; r < rows; r++) x[r * features] = 1e4f + 2 * (r + 1); // 200 to 800 standard deviations out
    LayerNorm.forward(k, rows, features, x, 0, null, null, 1e-12f, y, 0, mean, inv);
    for (int r = 0; r < rows; r++) {
      double[] st = new double[2];
      refRow(row(x, 0, features, r), null, null, 1e-12f, false, st);
      // Statistics only: y's error here is the float mean's rounding (ulp(1e4) ~ 1e-3) times invStd, in any kernel.
      assertClose("mean[" + r + "]", st[0], mean[r], 1e-5 * (1 + Math.abs(st[0])));
      assertClose("invStd[" + r + "]", st[1], inv[r], 1e-5 * st[1]);
    }
  }

  /** A constant row has variance 0 and gives exactly beta (x - mean is exactly 0); a NaN stays in its own row. */
  @ParameterizedTest(name = "{0} features={2}")
  @MethodSource("implsAndFeatures")
  void constantRowsGiveBetaAndNanStaysInItsRow(String name, LayerNormSupport k, int features) {
    SplittableRandom rnd = new SplittableRandom(5);
    int rows = 3;
    float[] x = random(rnd, rows * features, 0, 1), gamma = random(rnd, features, 1, 1), beta = random(rnd, features, 0, 1);
    java.util.Arrays.fill(x, 0, features, 1234.5f);
    float[] clean = new float[x.length], y = new float[x.length], inv = new float[rows], mean = new float[rows];
    LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, clean, 0, mean, inv);
    for (int f = 0; f < features; f++) assertTrue(clean[f] == beta[f], "constant row: y[" + f + "] = " + clean[f] + ", beta " + beta[f]);
    assertTrue(mean[0] == 1234.5f && inv[0] == (float) (1 / Math.sqrt(1e-3f)), "constant row statistics " + mean[0] + ", " + inv[0]);
    x[features + features / 2] = Float.NaN;
    LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv);
    for (int i = 0; i < x.length; i++) {
      int r = i / features;
      if (r == 1) assertTrue(Float.isNaN(y[i]), "NaN row: y[" + i + "] = " + y[i]);
      else assertTrue(y[i] == clean[i], "other rows unchanged at " + i);
    }
  }

  @ParameterizedTest(name = "{0} features={2}")
  @MethodSource("implsAndFeatures")
  void inPlaceEqualsOutOfPlace(String name, LayerNormSupport k, int features) {
    SplittableRandom rnd = new SplittableRandom(3);
    int rows = 3;
    float[] x = random(rnd, rows * features, 1, 2), gamma = random(rnd, features, 1, 1), beta = random(rnd, features, 0, 1);
    float[] y = new float[x.length], mean = new float[rows], inv = new float[rows], inPlace = x.clone();
    LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv);
    LayerNorm.forward(k, rows, features, inPlace, 0, gamma, beta, 1e-3f, inPlace, 0, null, null);
    assertArrayEquals(y, inPlace);
    float[] dy = random(rnd, x.length, 0, 1), dx = new float[x.length], dGamma = new float[features], dBeta = new float[features];
    LayerNorm.backward(k, rows, features, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
    float[] dyInPlace = dy.clone(), xInPlace = x.clone();
    LayerNorm.backward(k, rows, features, x, 0, dyInPlace, 0, gamma, mean, inv, dyInPlace, 0, null, null);
    assertArrayEquals(dx, dyInPlace, "dx == dy");
    LayerNorm.backward(k, rows, features, xInPlace, 0, dy, 0, gamma, mean, inv, xInPlace, 0, null, null);
    assertArrayEquals(dx, xInPlace, "dx == x");
    float[] ry = new float[x.length], rInv = new float[rows], rIn = x.clone();
    RmsNorm.forward(k, rows, features, x, 0, gamma, 1e-5f, ry, 0, rInv);
    RmsNorm.forward(k, rows, features, rIn, 0, gamma, 1e-5f, rIn, 0, null);
    assertArrayEquals(ry, rIn);
    float[] rdx = new float[x.length], rdy = dy.clone();
    RmsNorm.backward(k, rows, features, x, 0, dy, 0, gamma, rInv, rdx, 0, null);
    RmsNorm.backward(k, rows, features, x, 0, rdy, 0, gamma, rInv, rdy, 0, null);
    assertArrayEquals(rdx, rdy, "rms dx == dy");
  }

  /**
   * A backward over 300 rows gives the bits of the same rows in three calls of 100 adding into the same gradients
   * (dGamma/dBeta summed per feature in row order, whatever blocks or copies a kernel uses), with a null gamma the
   * bits of gamma = 1, in place the bits out of place, and dGamma, dBeta and dx within 1e-4 (of the terms'
   * magnitudes) of a double reference.
   */
  @ParameterizedTest(name = "{0} features={2}")
  @MethodSource("implsAndFeatures")
  void manyRowsGiveTheBitsOfFewRowsAndMatchDoubleReference(String name, LayerNormSupport k, int features) {
    SplittableRandom rnd = new SplittableRandom(5);
    int rows = 300, part = 100, n = rows * features;
    float[] x = random(rnd, n, 1, 2), dy = random(rnd, n, 0, 1), gamma = random(rnd, features, 1, 0.5), beta = random(rnd, features, 0, 1);
    float[] y = new float[n], mean = new float[rows], inv = new float[rows];
    LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv);
    float[] dx = new float[n], dG = new float[features], dB = new float[features];
    LayerNorm.backward(k, rows, features, x, 0, dy, 0, gamma, mean, inv, dx, 0, dG, dB);
    // The same rows in three calls of 100 rows, adding into the same gradients (the kernel adds; the facade zeroes first).
    float[] px = new float[n], pG = new float[features], pB = new float[features];
    for (int r0 = 0; r0 < rows; r0 += part) {
      float[] m = java.util.Arrays.copyOfRange(mean, r0, r0 + part), s = java.util.Arrays.copyOfRange(inv, r0, r0 + part);
      k.backward(x, r0 * features, dy, r0 * features, px, r0 * features, part, features, gamma, m, s, 0, pG, pB);
    }
    assertArrayEquals(dx, px, "dx, 300 rows against 3 x 100");
    assertArrayEquals(dG, pG, "dGamma, 300 rows against 3 x 100");
    assertArrayEquals(dB, pB, "dBeta, 300 rows against 3 x 100");
    float[] ones = new float[features], ux = new float[n], nx = new float[n], uG = new float[features], uB = new float[features];
    java.util.Arrays.fill(ones, 1f);
    LayerNorm.backward(k, rows, features, x, 0, dy, 0, ones, mean, inv, ux, 0, uG, uB);
    LayerNorm.backward(k, rows, features, x, 0, dy, 0, null, mean, inv, nx, 0, null, uB.clone());
    assertArrayEquals(ux, nx, "null gamma, null dGamma");
    float[] inPlace = dy.clone();
    LayerNorm.backward(k, rows, features, x, 0, inPlace, 0, gamma, mean, inv, inPlace, 0, null, null);
    assertArrayEquals(dx, inPlace, "dx == dy");
    double[] rg = new double[features], rb = new double[features], mg = new double[features], mb = new double[features];
    for (int r = 0; r < rows; r++) {
      double[] xr = row(x, 0, features, r), gr = row(dy, 0, features, r), stat = new double[2];
      double[] xhat = normalized(xr, 1e-3, false, stat);
      double sg = 0, sgx = 0;
      for (int f = 0; f < features; f++) {
        rg[f] += gr[f] * xhat[f];
        rb[f] += gr[f];
        double g = gr[f] * gamma[f];
        sg += g;
        sgx += g * xhat[f];
      }
      for (int f = 0; f < features; f++) {
        double g = gr[f] * gamma[f], want = stat[1] * (g - sg / features - xhat[f] * sgx / features);
        double scale = stat[1] * (Math.abs(g) + Math.abs(sg / features) + Math.abs(xhat[f] * sgx / features));
        assertClose("dx row " + r + " feature " + f, want, dx[r * features + f], 1e-4 * scale + 1e-6);
      }
      for (int f = 0; f < features; f++) {
        mg[f] += Math.abs(gr[f] * xhat[f]);
        mb[f] += Math.abs(gr[f]);
      }
    }
    for (int f = 0; f < features; f++) { // relative to the sum of the terms' magnitudes
      assertClose("dGamma " + f, rg[f], dG[f], 1e-4 * mg[f] + 1e-6);
      assertClose("dBeta " + f, rb[f], dB[f], 1e-4 * mb[f] + 1e-6);
    }
  }

  // ---------------------------------------------------------------- backward against finite differences

  /** L = Σ w·y over all rows (x and w rows x features, flat), in double from the reference forward. */
  static double loss(double[] x, int features, double[] gamma, double[] beta, double eps, boolean rms, double[] w) {
    return weightedSum(w, normalizedRows(x, features, gamma, beta, eps, rms));
  }

  static Stream<Arguments> implsAndSmallFeatures() {
    return impls().stream().flatMap(k -> Stream.of(1, 7, 16, 17, 768).map(f -> Arguments.of(k.name(), k, f)));
  }

  @ParameterizedTest(name = "{0} features={2}")
  @MethodSource("implsAndSmallFeatures")
  void layerNormBackwardMatchesFiniteDifferences(String name, LayerNormSupport k, int features) {
    backwardMatchesFiniteDifferences(k, features, false);
  }

  @ParameterizedTest(name = "{0} features={2}")
  @MethodSource("implsAndSmallFeatures")
  void rmsNormBackwardMatchesFiniteDifferences(String name, LayerNormSupport k, int features) {
    backwardMatchesFiniteDifferences(k, features, true);
  }

  /**
   * Central differences (h = 1e-5 on data of scale 1, in double: error ~1e-10) of the double reference at
   * the same float inputs; the kernel's float gradients must match to 1e-3 of the gradient's largest
   * magnitude (float rounding of sums over up to 768 terms is ~1e-5 of it), or 1e-6 of the terms dx is
   * made of where it cancels to 0.
   */
  static void backwardMatchesFiniteDifferences(LayerNormSupport k, int features, boolean rms) {
    SplittableRandom rnd = new SplittableRandom(features * 31L + (rms ? 1 : 0));
    int rows = 3, xOff = 2, dyOff = 1, dxOff = 4;
    float eps = 1e-3f;
    float[] x = random(rnd, xOff + rows * features, 0.5, 1), dy = random(rnd, dyOff + rows * features, 0, 1);
    float[] gamma = random(rnd, features, 1, 0.5), beta = rms ? null : random(rnd, features, 0, 1);
    float[] stat1 = new float[rows], stat2 = new float[rows], y = new float[rows * features];
    float[] dx = new float[dxOff + rows * features], dGamma = new float[features], dBeta = rms ? null : new float[features];
    java.util.Arrays.fill(dGamma, 99f); // overwritten, not accumulated into
    if (rms) {
      RmsNorm.forward(k, rows, features, x, xOff, gamma, eps, y, 0, stat2);
      RmsNorm.backward(k, rows, features, x, xOff, dy, dyOff, gamma, stat2, dx, dxOff, dGamma);
    } else {
      LayerNorm.forward(k, rows, features, x, xOff, gamma, beta, eps, y, 0, stat1, stat2);
      java.util.Arrays.fill(dBeta, 99f);
      LayerNorm.backward(k, rows, features, x, xOff, dy, dyOff, gamma, stat1, stat2, dx, dxOff, dGamma, dBeta);
    }
    double[] xs = slice(x, xOff, rows * features), w = slice(dy, dyOff, rows * features);
    double[] g = toDouble(gamma), b = toDouble(beta);
    double h = 1e-5;
    // Floor: where the exact gradient is 0 (one feature) dx is a difference of terms ~|dy·gamma|·invStd.
    double termScale = 0;
    for (int i = 0; i < rows * features; i++) {
      termScale = Math.max(termScale, Math.abs(dy[dyOff + i] * gamma[i % features]) * stat2[i / features]);
    }
    // dx: every element of small rows, 40 sampled ones of wide rows.
    int samples = Math.min(rows * features, 40);
    int[] idx = new int[samples];
    for (int i = 0; i < samples; i++) idx[i] = samples == rows * features ? i : rnd.nextInt(rows * features);
    DoubleSupplier l = () -> loss(xs, features, g, b, eps, rms, w);
    assertGradient("dx", centralDifferences(xs, idx, h, l), dx, dxOff, idx, 1e-3, 1e-3 * termScale);
    assertGradient("dGamma", centralDifferences(g, null, h, l), dGamma, 0, null, 1e-3, 1e-12);
    if (!rms) assertGradient("dBeta", centralDifferences(b, null, h, l), dBeta, 0, null, 1e-3, 1e-12);
  }

  // ---------------------------------------------------------------- segments

  /** Native segments (the native body, or staged in row blocks for the scalar implementation) and float[]-backed ones give the array path's bits. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void segmentsEqualArrays(String name, LayerNormSupport k) {
    SplittableRandom rnd = new SplittableRandom(11);
    int rows = 2000, features = 17, n = rows * features;
    long off = 12; // bytes
    float[] x = random(rnd, n, 1, 2), dy = random(rnd, n, 0, 1), gamma = random(rnd, features, 1, 1), beta = random(rnd, features, 0, 1);
    float[] y = new float[n], mean = new float[rows], inv = new float[rows], dx = new float[n], dG = new float[features], dB = new float[features];
    LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv);
    LayerNorm.backward(k, rows, features, x, 0, dy, 0, gamma, mean, inv, dx, 0, dG, dB);
    float[] ry = new float[n], rInv = new float[rows], rdx = new float[n], rdG = new float[features];
    RmsNorm.forward(k, rows, features, x, 0, gamma, 1e-3f, ry, 0, rInv);
    RmsNorm.backward(k, rows, features, x, 0, dy, 0, gamma, rInv, rdx, 0, rdG);
    try (Arena arena = Arena.ofConfined()) {
      for (boolean heap : new boolean[] {false, true}) {
        MemorySegment xs = segment(arena, heap, x, off), gs = segment(arena, heap, dy, off), out = segment(arena, heap, new float[n], off);
        float[] m2 = new float[rows], i2 = new float[rows], g2 = new float[features], b2 = new float[features];
        LayerNorm.forward(k, rows, features, xs, off, gamma, beta, 1e-3f, out, off, m2, i2);
        assertArrayEquals(y, read(out, off, n), "y heap=" + heap);
        assertArrayEquals(mean, m2);
        assertArrayEquals(inv, i2);
        LayerNorm.backward(k, rows, features, xs, off, gs, off, gamma, m2, i2, out, off, g2, b2);
        assertArrayEquals(dx, read(out, off, n), "dx heap=" + heap);
        assertArrayEquals(dG, g2, "dGamma heap=" + heap);
        assertArrayEquals(dB, b2, "dBeta heap=" + heap);
        RmsNorm.forward(k, rows, features, xs, off, gamma, 1e-3f, out, off, i2);
        assertArrayEquals(ry, read(out, off, n), "rms y heap=" + heap);
        RmsNorm.backward(k, rows, features, xs, off, gs, off, gamma, i2, out, off, g2);
        assertArrayEquals(rdx, read(out, off, n), "rms dx heap=" + heap);
        assertArrayEquals(rdG, g2, "rms dGamma heap=" + heap);
        LayerNorm.forward(k, rows, features, xs, off, gamma, beta, 1e-3f, xs, off, null, null); // in place
        assertArrayEquals(y, read(xs, off, n), "in place heap=" + heap);
      }
    }
  }

  // ---------------------------------------------------------------- bad arguments

  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void badArgumentsThrowNamingTheArgumentAndWriteNothing(String name, LayerNormSupport k) {
    int rows = 3, features = 5, n = rows * features;
    float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n];
    for (int i = 0; i < n; i++) x[i] = dy[i] = i;
    float[] gamma = new float[features], beta = new float[features], mean = new float[rows], inv = new float[rows];
    java.util.Arrays.fill(gamma, 1f);
    java.util.Arrays.fill(inv, 1f);
    float[] dG = new float[features], dB = new float[features];
    float[] big = new float[2 * n];
    List<BadCall> cases = List.of(
        new BadCall("gamma", () -> LayerNorm.forward(k, rows, features, x, 0, new float[4], beta, 1e-3f, y, 0, mean, inv)),
        new BadCall("beta", () -> LayerNorm.forward(k, rows, features, x, 0, gamma, new float[6], 1e-3f, y, 0, mean, inv)),
        new BadCall("mean", () -> LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, y, 0, new float[2], inv)),
        new BadCall("invStd", () -> LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, y, 0, mean, new float[4])),
        new BadCall("epsilon", () -> LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 0f, y, 0, mean, inv)),
        new BadCall("y", () -> LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, y, 1, mean, inv)),
        new BadCall("features", () -> LayerNorm.forward(k, rows, 0, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv)),
        new BadCall("rows", () -> RmsNorm.forward(k, 0, features, x, 0, gamma, 1e-3f, y, 0, inv)),
        new BadCall("overlaps", () -> LayerNorm.forward(k, rows, features, big, 0, gamma, beta, 1e-3f, big, 2, mean, inv)),
        new BadCall("mean", () -> LayerNorm.forward(k, rows, features, x, 0, gamma, beta, 1e-3f, y, 0, inv, inv)),
        new BadCall("dGamma", () -> LayerNorm.backward(k, rows, features, x, 0, dy, 0, gamma, mean, inv, dx, 0, gamma, dB)),
        new BadCall("dGamma", () -> LayerNorm.backward(k, rows, features, x, 0, dy, 0, gamma, mean, inv, dx, 0, dG, dG)),
        new BadCall("dx", () -> LayerNorm.backward(k, rows, features, x, 0, dy, 0, gamma, mean, inv, dx, 3, dG, dB)),
        new BadCall("invStd", () -> LayerNorm.backward(k, rows, features, x, 0, dy, 0, gamma, mean, new float[1], dx, 0, dG, dB)),
        new BadCall("invRms", () -> RmsNorm.backward(k, rows, features, x, 0, dy, 0, gamma, null, dx, 0, dG)),
        new BadCall("dGamma", () -> RmsNorm.backward(k, rows, features, x, 0, dy, 0, gamma, inv, dx, 0, new float[3])),
        new BadCall("invRms", () -> RmsNorm.forward(k, rows, features, x, 0, gamma, 1e-3f, y, 0, gamma)),
        new BadCall("read-only", () -> LayerNorm.forward(k, rows, features, MemorySegment.ofArray(x), 0, gamma, beta, 1e-3f,
            MemorySegment.ofArray(y).asReadOnly(), 0, mean, inv)),
        new BadCall("y", () -> RmsNorm.forward(k, rows, features, MemorySegment.ofArray(x), 0, gamma, 1e-3f, MemorySegment.ofArray(y), 8, inv)));
    assertRejectedBeforeWriting(cases, x, y, dy, dx, gamma, beta, mean, inv, dG, dB, big);
  }
}
