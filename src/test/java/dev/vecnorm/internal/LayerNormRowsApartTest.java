package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The layer-norm forward's two forms ({@link PanamaLayerNormSupport#forwardRowsApart}, taken by short rows and calls in
 * cache, and {@link PanamaLayerNormSupport#forwardPipelined}, by wide rows from memory) give the same bits for any
 * shape, so which one a call takes is a matter of speed only: y, mean and invStd compared exactly, both called directly
 * on the same data, at widths that take each loop of the sums (pair loop, one-vector step, scalar tail), on rows
 * 1e4 + N(0, 0.01) whose first element is far out (summed again about the mean), rows holding NaN and infinity, and in
 * place. The native forward (its pipelined loop for every shape: rows apart did not gain there) against the same. RMS
 * norm's forward likewise, and the backward's blocks against its row loop.
 */
class LayerNormRowsApartTest {

  static final int LANES = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();

  @ParameterizedTest(name = "{0}x{1} {2}")
  @CsvSource({"7,1,PLAIN", "9,15,OUTLIER", "40,16,PLAIN", "33,17,SPECIAL", "12,33,OUTLIER", "20,255,PLAIN", "6,511,SPECIAL",
      "5,512,OUTLIER", "4,768,PLAIN", "3,1000,SPECIAL", "3,1031,OUTLIER", "2,2047,PLAIN", "2,2048,OUTLIER", "2,4100,SPECIAL"})
  void rowsApartEqualsPipelined(int rows, int features, String fill) {
    float[] x = data(rows, features, fill, 17L * features + rows);
    float[] gamma = new float[features], beta = new float[features];
    SplittableRandom r = new SplittableRandom(features);
    for (int f = 0; f < features; f++) {
      gamma[f] = 0.5f + (float) r.nextDouble();
      beta[f] = (float) r.nextGaussian();
    }
    int off = 3, so = 2, n = rows * features;
    float[] xa = new float[off + n], ya = new float[off + n], yb = new float[off + n];
    System.arraycopy(x, 0, xa, off, n);
    float[] ma = new float[so + rows], ia = new float[so + rows], mb = new float[so + rows], ib = new float[so + rows];
    PanamaLayerNormSupport.forwardRowsApart(xa, off, ya, off, rows, features, gamma, beta, 1e-3f, ma, ia, so);
    PanamaLayerNormSupport.forwardPipelined(xa, off, yb, off, rows, features, gamma, beta, 1e-3f, mb, ib, so);
    assertArrayEquals(yb, ya, "y");
    assertArrayEquals(mb, ma, "mean");
    assertArrayEquals(ib, ia, "invStd");
    double sum = 0;
    for (int f = 0; f < features; f++) sum += x[f];
    if (!fill.equals("SPECIAL")) assertEquals(sum / features, ma[so], 1e-6 * Math.abs(sum / features) + 1e-6, "row 0's mean, against a double sum");

    float[] xin = xa.clone(); // in place: y = x
    PanamaLayerNormSupport.forwardRowsApart(xin, off, xin, off, rows, features, gamma, beta, 1e-3f, null, null, 0);
    assertArrayEquals(yb, xin, "y in place");

    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = arena.allocate(4L * n + 8, 64), ys = arena.allocate(4L * n + 8, 64);
      MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT_UNALIGNED, 4, n);
      float[] mn = new float[so + rows], in = new float[so + rows];
      PanamaNativeLayerNorm.forward(xs, 4, ys, 4, rows, features, gamma, beta, 1e-3f, mn, in, so);
      float[] yn = new float[off + n];
      MemorySegment.copy(ys, ValueLayout.JAVA_FLOAT_UNALIGNED, 4, yn, off, n);
      assertArrayEquals(yb, yn, "native y");
      assertArrayEquals(mb, mn, "native mean");
      assertArrayEquals(ib, in, "native invStd");
    }
  }

  /** RMS norm's two forms ({@link PanamaLayerNormSupport#rmsForwardRowsApart}, {@link PanamaLayerNormSupport#rmsForwardPipelined}) and the native body: the same bits. */
  @ParameterizedTest(name = "{0}x{1} {2}")
  @CsvSource({"7,1,PLAIN", "40,16,PLAIN", "33,17,SPECIAL", "12,33,OFFSET", "20,255,PLAIN", "6,511,SPECIAL", "3,1000,OFFSET",
      "3,1031,PLAIN", "2,2048,SPECIAL", "2,4100,OFFSET", "400,31,PLAIN", "300,47,OFFSET"})
  void rmsRowsApartEqualsPipelined(int rows, int features, String fill) {
    float[] x = data(rows, features, fill, 29L * features + rows);
    float[] gamma = new float[features];
    SplittableRandom r = new SplittableRandom(features);
    for (int f = 0; f < features; f++) gamma[f] = 0.5f + (float) r.nextDouble();
    int off = 5, so = 1, n = rows * features;
    float[] xa = new float[off + n], ya = new float[off + n], yb = new float[off + n];
    System.arraycopy(x, 0, xa, off, n);
    float[] ia = new float[so + rows], ib = new float[so + rows];
    PanamaLayerNormSupport.rmsForwardRowsApart(xa, off, ya, off, rows, features, gamma, 1e-3f, ia, so);
    PanamaLayerNormSupport.rmsForwardPipelined(xa, off, yb, off, rows, features, gamma, 1e-3f, ib, so);
    assertArrayEquals(yb, ya, "y");
    assertArrayEquals(ib, ia, "invRms");
    double squares = 0;
    for (int f = 0; f < features; f++) squares += (double) x[f] * x[f];
    if (!fill.equals("SPECIAL")) {
      assertEquals(1 / Math.sqrt(squares / features + 1e-3), ia[so], 1e-5 * ia[so], "row 0's invRms, against a double sum");
    }
    float[] xin = xa.clone(); // in place: y = x
    PanamaLayerNormSupport.rmsForwardRowsApart(xin, off, xin, off, rows, features, gamma, 1e-3f, null, 0);
    assertArrayEquals(yb, xin, "y in place");
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = arena.allocate(4L * n + 8, 64), ys = arena.allocate(4L * n + 8, 64);
      MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT_UNALIGNED, 4, n);
      float[] in = new float[so + rows];
      PanamaNativeLayerNorm.rmsForward(xs, 4, ys, 4, rows, features, gamma, 1e-3f, in, so);
      float[] yn = new float[off + n];
      MemorySegment.copy(ys, ValueLayout.JAVA_FLOAT_UNALIGNED, 4, yn, off, n);
      assertArrayEquals(yb, yn, "native y");
      assertArrayEquals(ib, in, "native invRms");
    }
  }

  /**
   * Layer norm's backward in blocks ({@link PanamaLayerNormSupport#backwardBlocks}: sums, gradients feature by feature,
   * then dx with the row's tail as one vector) against the row loop ({@link PanamaLayerNormSupport#backwardRows}) and
   * the native body (its row loop, or the blocks staged where the array code takes them): dx, dGamma and dBeta exactly, at
   * widths with tails of 4 floats and more (the blocks' range) and outside it (a tail of 1, none, a row shorter than a
   * vector: the blocks are correct there too), one block and several, gamma and
   * the gradients null or not, data holding NaN and infinity, and dx over dy and over x.
   */
  @ParameterizedTest(name = "{0}x{1}")
  @CsvSource({"1,4", "5,7", "40,4", "3,11", "40,15", "70,20", "33,36", "7,100", "6,1", "9,32", "4,5"}) // the second picks the width (below)
  void backwardBlocksEqualTheRowLoop(int rows, int pick) {
    int features = pick == 1 || pick == 4 || pick == 7 ? LANES + pick : pick == 11 ? 2 * LANES - 1 : pick == 15 ? 2 * LANES + 5
        : pick == 20 ? 4 * LANES + 7 : pick == 32 ? 2 * LANES : pick == 36 ? 8 * LANES - 1 : pick; // 100 and 5 as they are
    int n = rows * features, off = 3, so = 2;
    for (String fill : new String[] {"PLAIN", "SPECIAL"}) {
      float[] x = data(rows, features, fill, 31L * features + rows), dy = data(rows, features, "PLAIN", 7L * features);
      float[] gamma = new float[features], beta = new float[features];
      SplittableRandom r = new SplittableRandom(features);
      for (int f = 0; f < features; f++) gamma[f] = 0.5f + (float) r.nextDouble();
      float[] xa = new float[off + n], ga = new float[off + n], y = new float[off + n], mean = new float[so + rows], inv = new float[so + rows];
      System.arraycopy(x, 0, xa, off, n);
      System.arraycopy(dy, 0, ga, off, n);
      PanamaLayerNormSupport.forwardRowsApart(xa, off, y, off, rows, features, gamma, beta, 1e-3f, mean, inv, so);
      for (boolean withGamma : new boolean[] {true, false}) {
        float[] g = withGamma ? gamma : null;
        float[] dx = new float[off + n], dG = new float[features], dB = new float[features];
        java.util.Arrays.fill(dG, 0.25f); // the kernel adds into the gradients
        java.util.Arrays.fill(dB, -0.5f);
        PanamaLayerNormSupport.backwardBlocks(xa, off, ga, off, dx, off, rows, features, g, mean, inv, so, dG, dB);
        float[] rx = new float[off + n], rG = new float[features], rB = new float[features];
        java.util.Arrays.fill(rG, 0.25f);
        java.util.Arrays.fill(rB, -0.5f);
        PanamaLayerNormSupport.backwardRows(xa, off, ga, off, rx, off, rows, features, g, mean, inv, so, rG, rB);
        String form = fill + (withGamma ? " gamma" : " no gamma");
        assertArrayEquals(rx, dx, "dx against the row loop, " + form);
        assertArrayEquals(rG, dG, "dGamma against the row loop, " + form);
        assertArrayEquals(rB, dB, "dBeta against the row loop, " + form);
        try (Arena arena = Arena.ofConfined()) {
          MemorySegment xs = arena.allocate(4L * n + 8, 64), gs = arena.allocate(4L * n + 8, 64), out = arena.allocate(4L * n + 8, 64);
          MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT_UNALIGNED, 4, n);
          MemorySegment.copy(dy, 0, gs, ValueLayout.JAVA_FLOAT_UNALIGNED, 4, n);
          float[] nG = new float[features], nB = new float[features];
          java.util.Arrays.fill(nG, 0.25f);
          java.util.Arrays.fill(nB, -0.5f);
          PanamaNativeLayerNorm.backward(xs, 4, gs, 4, out, 4, rows, features, g, mean, inv, so, nG, nB);
          float[] dn = new float[off + n];
          MemorySegment.copy(out, ValueLayout.JAVA_FLOAT_UNALIGNED, 4, dn, off, n);
          assertArrayEquals(dn, dx, "native dx, " + form);
          assertArrayEquals(nG, dG, "native dGamma, " + form);
          assertArrayEquals(nB, dB, "native dBeta, " + form);
        }
        float[] overDy = ga.clone(), oG = new float[features];
        java.util.Arrays.fill(oG, 0.25f);
        PanamaLayerNormSupport.backwardBlocks(xa, off, overDy, off, overDy, off, rows, features, g, mean, inv, so, oG, null);
        assertArrayEquals(dx, overDy, "dx over dy, " + fill);
        assertArrayEquals(dG, oG, "dGamma with dx over dy, " + fill);
        float[] overX = xa.clone(), xB = new float[features];
        java.util.Arrays.fill(xB, -0.5f);
        PanamaLayerNormSupport.backwardBlocks(overX, off, ga, off, overX, off, rows, features, g, mean, inv, so, null, xB);
        assertArrayEquals(dx, overX, "dx over x, " + fill);
        assertArrayEquals(dB, xB, "dBeta with dx over x, " + fill);
      }
    }
  }

  @Test
  void dispatch() {
    assertTrue(PanamaLayerNormSupport.rowsApart(1 << 20, 511), "short rows from memory");
    assertTrue(PanamaLayerNormSupport.rowsApart(100, 4096), "a call in cache");
    assertFalse(PanamaLayerNormSupport.rowsApart(2048, 768), "wide rows from memory");
    assertFalse(PanamaLayerNormSupport.rowsApart(1024, 512), "512 Ki floats of 512-float rows");
    assertTrue(PanamaLayerNormSupport.backwardInBlocks(LANES + 4), "a tail of 4");
    assertTrue(PanamaLayerNormSupport.backwardInBlocks(8 * LANES - 1), "under 8 vectors, a tail of LANES - 1");
    assertFalse(PanamaLayerNormSupport.backwardInBlocks(LANES + 1), "a tail of 1");
    assertFalse(PanamaLayerNormSupport.backwardInBlocks(2 * LANES), "no tail");
    assertFalse(PanamaLayerNormSupport.backwardInBlocks(8 * LANES + 4), "8 vectors and more");
  }

  static float[] data(int rows, int features, String fill, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[rows * features];
    for (int i = 0; i < x.length; i++) x[i] = fill.equals("PLAIN") ? (float) r.nextGaussian() : (float) (1e4 + 0.01 * r.nextGaussian());
    for (int row = 0; row < rows; row++) {
      int at = row * features;
      if (fill.equals("OUTLIER")) x[at] += 1f; // 100 standard deviations out: the shifted sums cancel, the row is summed again
      if (fill.equals("SPECIAL") && row % 2 == 1) x[at + features / 2] = row % 4 == 1 ? Float.NaN : Float.POSITIVE_INFINITY;
    }
    return x;
  }
}
