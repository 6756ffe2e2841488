package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link ParallelBatchNorm}'s chunked training forward and moments (the chunks' moments, the merge ranges,
 * the chunks' normalize) on the shapes {@link ParallelBatchNormTest} misses: several chunks with a channel
 * count that no lane count divides, one channel, uneven chunks, and a non-finite value in one chunk only.
 * Identical bits on 1, 2 and 3 threads; values against the double-precision reference ({@link Reference})
 * or, for non-finite channels, {@link BatchNorm}'s rule.
 */
class ParallelTrainingShapesTest {

  /**
   * 400x1023: 4 chunks, the kernels' channel tail; 300000x1: 3 chunks of one channel; 1000x300: 436, 436 and 128 rows;
   * 1100x1024: a wide tensor cut into {@value ParallelBatchNorm#WIDE_CHUNKS} chunks (seven of 138 rows, one of 134).
   */
  static final NormShape[] SHAPES = {NormShape.channelsLast(400, 1023), NormShape.channelsLast(300_000, 1),
      NormShape.channelsLast(1000, 300), NormShape.channelsLast(1100, 1024)};

  /** Wide channels-last tensors get at most WIDE_CHUNKS chunks; narrower ones keep chunks of CHUNK_FLOATS. */
  @Test
  void wideChannelsLastTensorsAreCutIntoAtMostEightChunks() {
    assertEquals(8, ParallelBatchNorm.Plan.of(NormShape.channelsLast(1568, 2048)).count(), "NHWC 32x7x7x2048");
    assertEquals(8, ParallelBatchNorm.Plan.of(NormShape.channelsLast(784, 4096)).count(), "NHWC 16x7x7x4096");
    ParallelBatchNorm.Plan p = ParallelBatchNorm.Plan.of(NormShape.channelsLast(1100, 1024));
    assertEquals(8, p.count(), "1100x1024");
    assertEquals(138, p.outerCount()[0]);
    assertEquals(134, p.outerCount()[7]);
    // Unchanged: two chunks of CHUNK_FLOATS (NC 256x1024); 25 chunks of 256 rows at 512 channels (NHWC 8x28x28x512).
    assertEquals(2, ParallelBatchNorm.Plan.of(NormShape.channelsLast(256, 1024)).count(), "NC 256x1024");
    assertEquals(25, ParallelBatchNorm.Plan.of(NormShape.channelsLast(6272, 512)).count(), "NHWC 8x28x28x512");
  }

  @Test
  void phasedLoopsGiveTheSameBitsOnAnyThreadCountAndTheDoubleReferenceValues() {
    for (NormShape s : SHAPES) {
      assertTrue(ParallelBatchNorm.Plan.of(s).count() > 1, s + " must be cut into several chunks");
      float[] x = Reference.data(s, 0, 21), dy = Reference.data(s, 0, 22);
      float[] gamma = Reference.perChannel(s.channels(), 1, 0.3, 23), beta = Reference.perChannel(s.channels(), 0, 1, 24);
      ParallelBatchNormTest.Out first = null;
      for (int threads : new int[] {1, 2, 3}) {
        try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
          ParallelBatchNormTest.Out o = ParallelBatchNormTest.runAll(p, s, x, dy, gamma, beta);
          if (first == null) first = o;
          else ParallelBatchNormTest.assertSame(first, o, s + ", " + threads + " threads");
        }
      }
      // Float statistics of Gaussian data (|mean| <= 3, std <= 4.5) against two-pass double: relative 1e-5
      // for the mean and variance, 1e-4 for y (one float rounding of each factor).
      double[][] ref = Reference.moments(s, x, 0);
      double[] y = Reference.normalize(s, x, 0, ref[0], ref[1], 1e-3, gamma, beta);
      for (int c = 0; c < s.channels(); c++) {
        assertClose(s + " mean " + c, ref[0][c], first.mean()[c], 1e-5 * (1 + Math.abs(ref[0][c])));
        assertClose(s + " variance " + c, ref[1][c], first.var()[c], 1e-5 * (1 + ref[1][c]));
        assertClose(s + " invStd " + c, 1 / Math.sqrt(ref[1][c] + 1e-3), first.inv()[c], 1e-5 / Math.sqrt(ref[1][c] + 1e-3));
      }
      for (int k = 0; k < y.length; k++) assertClose(s + " y " + k, y[k], first.y()[k], 1e-4 * (1 + Math.abs(y[k])));
    }
  }

  /**
   * +Inf in one chunk's channel, NaN in another chunk's, +Inf and -Inf in a third channel of the first chunk:
   * the merge ranges holding them fall back to the branching merge. Same bits on 1, 2 and 3 threads; the
   * non-finite channels' statistics are BatchNorm's (one kernel call: +Inf mean, NaN variance and
   * invStd; NaN for NaN and for +Inf with -Inf), every other channel is the double reference's.
   */
  @Test
  void aNonFiniteValueInOneChunkOnly() {
    NormShape s = NormShape.channelsLast(1000, 300);
    int C = s.channels();
    float[] x = Reference.data(s, 0, 25);
    x[500 * C + 7] = Float.POSITIVE_INFINITY; // chunk 1 (rows 436..871)
    x[900 * C + 9] = Float.NaN; // chunk 2
    x[10 * C + 11] = Float.POSITIVE_INFINITY; // chunk 0, both signs
    x[20 * C + 11] = Float.NEGATIVE_INFINITY;
    float[][] first = null;
    for (int threads : new int[] {1, 2, 3}) {
      try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
        float[][] o = trainingForward(p, s, x);
        Moments m = new Moments(C);
        p.moments(s, x, 0, m);
        for (int c : new int[] {7, 9, 11}) assertEquals(Float.valueOf(o[1][c]), Float.valueOf((float) m.mean(c)), "moments mean " + c);
        if (first == null) first = o;
        for (int k = 0; k < o.length; k++) assertArrayEquals(first[k], o[k], threads + " threads, output " + k);
      }
    }
    float[] y = new float[x.length], mean = new float[C], var = new float[C], inv = new float[C];
    BatchNorm.forwardTraining(s, x, 0, null, null, 1e-3f, y, 0, mean, var, inv);
    assertEquals(Float.POSITIVE_INFINITY, mean[7]);
    assertTrue(Float.isNaN(mean[9]) && Float.isNaN(mean[11]));
    double[][] ref = Reference.moments(s, x, 0);
    for (int c = 0; c < C; c++) {
      if (c == 7 || c == 9 || c == 11) {
        assertEquals(Float.valueOf(mean[c]), Float.valueOf(first[1][c]), "mean " + c);
        assertEquals(Float.valueOf(var[c]), Float.valueOf(first[2][c]), "variance " + c);
        assertEquals(Float.valueOf(inv[c]), Float.valueOf(first[3][c]), "invStd " + c);
      } else {
        assertClose("mean " + c, ref[0][c], first[1][c], 1e-5 * (1 + Math.abs(ref[0][c])));
        assertClose("variance " + c, ref[1][c], first[2][c], 1e-5 * (1 + ref[1][c]));
      }
    }
  }

  /**
   * Finite data whose variance overflows a float (a channel of +-2e19: squares near 4e38): every chunk mean
   * is finite, so the merge ranges take the finite path, which must still apply BatchNorm's rule (+Inf
   * variance, NaN invStd) and not 1/sqrt(Inf) = 0. NC 256x1024: two chunks, four merge ranges; the channel
   * sits in the third. Same bits on 1, 2 and 3 threads; the other channels are the double reference's.
   */
  @Test
  void aFiniteChannelWhoseVarianceOverflowsGetsANaNInvStd() {
    NormShape s = NormShape.channelsLast(256, 1024);
    int C = s.channels(), big = 600;
    float[] x = Reference.data(s, 0, 26);
    for (int r = 0; r < s.outer(); r++) x[r * C + big] = (r & 1) == 0 ? 2e19f : -2e19f;
    float[][] first = null;
    for (int threads : new int[] {1, 2, 3}) {
      try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
        float[][] o = trainingForward(p, s, x);
        if (first == null) first = o;
        for (int k = 0; k < o.length; k++) assertArrayEquals(first[k], o[k], threads + " threads, output " + k);
        // assertArrayEquals compares NaNs as equal whatever their bits; BatchNorm's rule writes Float.NaN itself
        // (0x7fc00000), and an Inf - Inf on x86 would give 0xffc00000.
        assertEquals(Float.floatToRawIntBits(Float.NaN), Float.floatToRawIntBits(o[3][big]), threads + " threads: invStd's raw NaN bits");
      }
    }
    assertTrue(Float.isFinite(first[1][big]), "mean " + first[1][big]);
    assertEquals(Float.POSITIVE_INFINITY, first[2][big]);
    assertTrue(Float.isNaN(first[3][big]), "invStd " + first[3][big]);
    double[][] ref = Reference.moments(s, x, 0);
    for (int c = 0; c < C; c++) {
      if (c == big) continue;
      assertClose("mean " + c, ref[0][c], first[1][c], 1e-5 * (1 + Math.abs(ref[0][c])));
      assertClose("variance " + c, ref[1][c], first[2][c], 1e-5 * (1 + ref[1][c]));
      assertClose("invStd " + c, 1 / Math.sqrt(ref[1][c] + 1e-3), first[3][c], 1e-5 / Math.sqrt(ref[1][c] + 1e-3));
    }
  }

  private static float[][] trainingForward(ParallelBatchNorm p, NormShape s, float[] x) {
    int C = s.channels();
    float[][] o = {new float[x.length], new float[C], new float[C], new float[C]};
    p.forwardTraining(s, x, 0, null, null, 1e-3f, o[0], 0, o[1], o[2], o[3]);
    return o;
  }
}
