package dev.vecnorm;

import static dev.vecnorm.NormTesting.read;
import static dev.vecnorm.NormTesting.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vecnorm.internal.LayerNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * LayerNorm and RMSNorm straight on native memory ({@code PanamaNativeLayerNorm}, through
 * {@link LayerNormSupport#forwardNative} and its siblings) give the same bits as the Vector API kernels on a
 * {@code float[]} holding the same data: the native body mirrors the array kernels' arithmetic and order, so
 * any difference is a bug and the comparison is exact ({@code assertArrayEquals} on floats compares
 * {@code floatToIntBits}). The kernels are called directly (the facades would give the same bits by
 * staging too, which would hide a missing native path). Accuracy against float64 is {@link LayerNormTest}'s; here a double reference only checks that
 * the data exercised the kernels sensibly.
 *
 * <p>Cases: feature counts 1, lanes - 1, lanes, lanes + 1, 2 lanes + 1 (one vector of the two-vector loop
 * and a tail), 1000 and 1023; 1 and 5 rows; byte offsets 0, 4, 70 (not float-aligned) and one past 1 MiB;
 * out of place and in place; data 1e4 + N(0, 0.01), the same with an outlier first feature (the
 * cancellation redo), N(0, 1) without gamma/beta, and NaN / infinities in some rows.
 */
class NativeLayerNormTest {

  static final float EPS = 1e-3f;
  static final int LANES = FloatVector.SPECIES_PREFERRED.length();

  enum Fill { OFFSET, OUTLIER, PLAIN, SPECIAL }

  static LayerNormSupport panama() {
    var p = VectorizationProvider.panamaLayerNorm();
    assumeTrue(p.isPresent(), "no Vector API implementation on this machine");
    return p.get();
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    // 2047 and from 2048 on: either side of PanamaNativeLayerNorm.WIDE (rows from there on at absolute offsets);
    // 2048 + LANES + 1 takes the one-vector step and the scalar tail, 4100 the pair loop and a tail.
    for (int f : new int[] {1, LANES - 1, LANES, LANES + 1, 2 * LANES + 1, 1000, 1023, 2047, 2048, 2048 + LANES + 1, 4100}) {
      for (int rows : new int[] {1, 5}) {
        for (Fill fill : Fill.values()) {
          for (long off : new long[] {0, 4, 70}) out.add(Arguments.of(rows, f, fill, off));
        }
      }
    }
    out.add(Arguments.of(3, 1000, Fill.OFFSET, (1L << 20) + 6));
    return out.stream();
  }

  static float[] data(int rows, int features, Fill fill, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[rows * features];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) switch (fill) {
        case OFFSET, OUTLIER, SPECIAL -> 1e4 + 0.01 * r.nextGaussian();
        case PLAIN -> r.nextGaussian();
      };
    }
    for (int row = 0; row < rows; row++) {
      int at = row * features;
      if (fill == Fill.OUTLIER) x[at] += 1f; // 100 standard deviations out: the shifted sums cancel, the row is summed again
      if (fill == Fill.SPECIAL && row % 2 == 1) x[at + features / 2] = row % 4 == 1 ? Float.NaN : Float.POSITIVE_INFINITY;
    }
    return x;
  }

  static float[] param(int features, long seed, double center) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] a = new float[features];
    for (int i = 0; i < features; i++) a[i] = (float) (center + 0.5 * r.nextGaussian());
    return a;
  }

  @ParameterizedTest(name = "rows={0} features={1} {2} off={3}")
  @MethodSource("cases")
  void nativeEqualsArray(int rows, int features, Fill fill, long off) {
    LayerNormSupport k = panama();
    int n = rows * features, so = 2; // statistics written from index 2: the statsOffset is honoured
    float[] x = data(rows, features, fill, 31L * features + rows), dy = data(rows, features, Fill.PLAIN, 7L * features + rows);
    boolean affine = fill != Fill.PLAIN;
    float[] gamma = affine ? param(features, 3, 1) : null, beta = affine ? param(features, 4, 0) : null;

    // float[] kernels
    float[] y = new float[n], mean = new float[rows + so], inv = new float[rows + so], dx = new float[n];
    float[] dG = new float[features], dB = new float[features], ry = new float[n], rInv = new float[rows + so], rdx = new float[n];
    float[] rdG = new float[features], yInference = new float[n];
    k.forward(x, 0, y, 0, rows, features, gamma, beta, EPS, mean, inv, so);
    k.forward(x, 0, yInference, 0, rows, features, gamma, beta, EPS, null, null, so);
    k.backward(x, 0, dy, 0, dx, 0, rows, features, gamma, mean, inv, so, dG, dB);
    k.rmsForward(x, 0, ry, 0, rows, features, gamma, EPS, rInv, so);
    k.rmsBackward(x, 0, dy, 0, rdx, 0, rows, features, gamma, rInv, so, rdG);
    if (fill == Fill.OFFSET) assertSensible(x, rows, features, mean, so);

    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = segment(arena, false, x, off), gs = segment(arena, false, dy, off), out = segment(arena, false, new float[n], off);
      float[] m2 = new float[rows + so], i2 = new float[rows + so], g2 = new float[features], b2 = new float[features];
      assertTrue(k.forwardNative(xs, off, out, off, rows, features, gamma, beta, EPS, m2, i2, so));
      assertArrayEquals(y, read(out, off, n), "y");
      assertArrayEquals(mean, m2, "mean");
      assertArrayEquals(inv, i2, "invStd");
      assertTrue(k.forwardNative(xs, off, out, off, rows, features, gamma, beta, EPS, null, null, so));
      assertArrayEquals(yInference, read(out, off, n), "inference y");
      assertTrue(k.backwardNative(xs, off, gs, off, out, off, rows, features, gamma, m2, i2, so, g2, b2));
      assertArrayEquals(dx, read(out, off, n), "dx");
      assertArrayEquals(dG, g2, "dGamma");
      assertArrayEquals(dB, b2, "dBeta");
      assertTrue(k.rmsForwardNative(xs, off, out, off, rows, features, gamma, EPS, i2, so));
      assertArrayEquals(ry, read(out, off, n), "rms y");
      assertArrayEquals(rInv, i2, "invRms");
      java.util.Arrays.fill(g2, 0f);
      assertTrue(k.rmsBackwardNative(xs, off, gs, off, out, off, rows, features, gamma, i2, so, g2));
      assertArrayEquals(rdx, read(out, off, n), "rms dx");
      assertArrayEquals(rdG, g2, "rms dGamma");

      // In place: y over x, dx over dy (the backward reads x and dy of a row before writing it).
      assertTrue(k.backwardNative(xs, off, gs, off, gs, off, rows, features, gamma, mean, inv, so, new float[features], null));
      assertArrayEquals(dx, read(gs, off, n), "dx in place");
      assertTrue(k.forwardNative(xs, off, xs, off, rows, features, gamma, beta, EPS, null, null, so));
      assertArrayEquals(y, read(xs, off, n), "y in place");
      MemorySegment.copy(x, 0, xs, Staging.FLOAT_LE, off, n);
      assertTrue(k.rmsForwardNative(xs, off, xs, off, rows, features, gamma, EPS, null, so));
      assertArrayEquals(ry, read(xs, off, n), "rms y in place");
    }
  }

  /**
   * Calls large enough for the {@code float[]} forwards' rebuilt line-aligned row loads (PanamaLayerNormSupport
   * normalizeRowOnLines and, for RMS norm, scaleRowOnLines: rows of 512 floats and more, calls past 512 Ki floats, 16 lanes; at 8 lanes this compares the
   * plain loop) against the native body, which reads the rows directly: the same bits, at array offsets that put the
   * rows' starts 0 to 15 floats before a line, in place too. 1000 features move the rows' line offset from row to row;
   * 768 and 1024 keep it, 520 alternates two. The first rows at small offsets and the last rows (3 floats of slack) are read through
   * PanamaLayerNormSupport's pooled copies (rowPass, scalePass), the outlier rows' redo too.
   */
  @ParameterizedTest(name = "features={0} {1} arrayOffset={2}")
  @MethodSource("lineCases")
  void lineAlignedRowsEqualNative(int features, Fill fill, int arrayOffset) {
    LayerNormSupport k = panama();
    int rows = Math.max(530, 512 * 1024 / features + 2), n = rows * features, so = 1; // past the lines' 512 Ki floats
    float[] data = data(rows, features, fill, 11L * features + arrayOffset);
    float[] x = new float[arrayOffset + n + 3], y = new float[arrayOffset + n + 3];
    System.arraycopy(data, 0, x, arrayOffset, n);
    float[] gamma = param(features, 5, 1), beta = param(features, 6, 0);
    float[] mean = new float[rows + so], inv = new float[rows + so];
    k.forward(x, arrayOffset, y, arrayOffset, rows, features, gamma, beta, EPS, mean, inv, so);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = segment(arena, false, data, 0), out = segment(arena, false, new float[n], 0);
      float[] m2 = new float[rows + so], i2 = new float[rows + so];
      assertTrue(k.forwardNative(xs, 0, out, 0, rows, features, gamma, beta, EPS, m2, i2, so));
      assertArrayEquals(java.util.Arrays.copyOfRange(y, arrayOffset, arrayOffset + n), read(out, 0, n), "y");
      assertArrayEquals(mean, m2, "mean");
      assertArrayEquals(inv, i2, "invStd");
      float[] r1 = new float[rows + so], r2 = new float[rows + so];
      k.rmsForward(x, arrayOffset, y, arrayOffset, rows, features, gamma, EPS, r1, so);
      assertTrue(k.rmsForwardNative(xs, 0, out, 0, rows, features, gamma, EPS, r2, so));
      assertArrayEquals(java.util.Arrays.copyOfRange(y, arrayOffset, arrayOffset + n), read(out, 0, n), "rms y");
      assertArrayEquals(r1, r2, "invRms");
      k.forward(x, arrayOffset, x, arrayOffset, rows, features, gamma, beta, EPS, null, null, so); // y = x
      assertTrue(k.forwardNative(xs, 0, out, 0, rows, features, gamma, beta, EPS, null, null, so));
      assertArrayEquals(read(out, 0, n), java.util.Arrays.copyOfRange(x, arrayOffset, arrayOffset + n), "y in place");
      System.arraycopy(data, 0, x, arrayOffset, n);
      k.rmsForward(x, arrayOffset, x, arrayOffset, rows, features, gamma, EPS, null, so); // y = x
      assertTrue(k.rmsForwardNative(xs, 0, out, 0, rows, features, gamma, EPS, null, so));
      assertArrayEquals(read(out, 0, n), java.util.Arrays.copyOfRange(x, arrayOffset, arrayOffset + n), "rms y in place");
    }
  }

  static Stream<Arguments> lineCases() {
    List<Arguments> out = new ArrayList<>();
    for (int features : new int[] {520, 768, 1000, 1024, 1031}) {
      for (int off : new int[] {0, 1, 5, 12, 15}) out.add(Arguments.of(features, off == 5 ? Fill.SPECIAL : Fill.OFFSET, off));
    }
    out.add(Arguments.of(1000, Fill.OUTLIER, 3));
    out.add(Arguments.of(768, Fill.OUTLIER, 0));
    out.add(Arguments.of(1024, Fill.PLAIN, 0));
    return out.stream();
  }

  /** The mean of 1e4 + N(0, 0.01) rows to 1e-6 relative of a double sum: the comparison above compared real statistics. */
  static void assertSensible(float[] x, int rows, int features, float[] mean, int so) {
    for (int r = 0; r < rows; r++) {
      double sum = 0;
      for (int f = 0; f < features; f++) sum += x[r * features + f];
      assertEquals(sum / features, mean[so + r], 1e-6 * Math.abs(sum / features), "mean of row " + r);
    }
  }

  /** Through the facade (native body for the Vector API implementation), and the scalar one declines native segments. */
  @Test
  void facadeOnNativeSegmentsEqualsArrays() {
    LayerNormSupport k = panama();
    int rows = 40, features = 999, n = rows * features;
    float[] x = data(rows, features, Fill.OFFSET, 5), gamma = param(features, 6, 1), beta = param(features, 7, 0);
    float[] y = new float[n], mean = new float[rows], inv = new float[rows];
    k.forward(x, 0, y, 0, rows, features, gamma, beta, EPS, mean, inv, 0);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = segment(arena, false, x, 8), ys = segment(arena, false, new float[n], 8);
      float[] m2 = new float[rows], i2 = new float[rows];
      LayerNorm.forward(k, rows, features, xs, 8, gamma, beta, EPS, ys, 8, m2, i2);
      assertArrayEquals(y, read(ys, 8, n));
      assertArrayEquals(inv, i2);
      // The scalar implementation has no native body: it says so, and the facade stages.
      LayerNormSupport scalar = VectorizationProvider.scalarLayerNorm();
      assertTrue(!scalar.forwardNative(xs, 8, ys, 8, rows, features, gamma, beta, EPS, m2, i2, 0));
    }
  }
}
