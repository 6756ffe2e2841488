package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.ScalarBatchNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The chunk merge of {@link ParallelBatchNorm}: Chan's weights computed once per chunk (the plan fixes
 * every channel's count before a chunk) must give the bits of the per-channel merge, on any channel
 * range, with non-finite chunks too; the merged statistics must match a double-precision reference; and
 * the invStd the merge now derives on the threads must be the one derived from the returned variance.
 */
class ChunkMergeTest {

  /** Chunk moments of 7 uneven chunks (1 to 400 rows) of 96 channels, some channels with non-finite means. */
  @Test
  void weightsPerChunkGiveThePerChannelMergesBits() {
    SplittableRandom r = new SplittableRandom(9);
    int channels = 96, chunks = 7;
    double[] countA = new double[channels], meanA = new double[channels], m2A = new double[channels];
    double[] meanB = new double[channels], m2B = new double[channels];
    double done = 0;
    for (int i = 0; i < chunks; i++) {
      double n = 1 + r.nextInt(400);
      float[] mean = new float[channels], residual = new float[channels], variance = new float[channels];
      for (int c = 0; c < channels; c++) {
        double m = 1e4 + r.nextGaussian() * (1 + c);
        mean[c] = (float) m;
        residual[c] = (float) (m - mean[c]);
        variance[c] = (float) (r.nextDouble() * 3);
      }
      if (i == 3) mean[5] = Float.POSITIVE_INFINITY;
      if (i == 4) mean[6] = Float.NaN;
      if (i == 2) mean[7] = Float.NEGATIVE_INFINITY;
      if (i == 5) mean[7] = Float.POSITIVE_INFINITY;
      Staging.mergeChunk(countA, meanA, m2A, 0, mean, residual, variance, n);
      // The fixed-weight form, in two ranges and from a chunk array that starts at channel 0.
      Staging.mergeChunk(done, meanB, m2B, 0, 40, 0, mean, residual, variance, n);
      Staging.mergeChunk(done, meanB, m2B, 40, channels, 0, mean, residual, variance, n);
      done += n;
    }
    assertArrayEquals(meanA, meanB);
    assertArrayEquals(m2A, m2B);
    assertEquals(Double.POSITIVE_INFINITY, meanB[5]);
    assertTrue(Double.isNaN(meanB[6]) && Double.isNaN(meanB[7]), "NaN mean and +Inf with -Inf give NaN");
    for (int c = 0; c < channels; c++) assertEquals(done, countA[c]);
  }

  /** A chunk array holding channels from 32 on (a channel block), merged into the range [40, 50). */
  @Test
  void chunkArraysOffsetByTheirFirstChannel() {
    double[] countA = new double[64], meanA = new double[64], m2A = new double[64], meanB = new double[64], m2B = new double[64];
    float[] mean = new float[32], variance = new float[32];
    for (int k = 0; k < 32; k++) {
      mean[k] = 2 + k;
      variance[k] = 0.5f * k;
    }
    Staging.mergeChunk(countA, meanA, m2A, 32, mean, null, variance, 10);
    Staging.mergeChunk(countA, meanA, m2A, 32, mean, null, variance, 30);
    Staging.mergeChunk(0, meanB, m2B, 40, 50, 32, mean, null, variance, 10);
    Staging.mergeChunk(10, meanB, m2B, 40, 50, 32, mean, null, variance, 30);
    for (int c = 40; c < 50; c++) {
      assertEquals(meanA[c], meanB[c], "mean " + c);
      assertEquals(m2A[c], m2B[c], "m2 " + c);
      assertEquals(2 + c - 32, meanB[c], 1e-12);
      assertEquals(40 * 0.5 * (c - 32), m2B[c], 1e-9); // equal chunk means: M2 = sum of n * variance
    }
    assertEquals(0, meanB[39]);
    assertEquals(0, meanB[50]);
  }

  /**
   * 1e4 + N(0, 0.01) on NC 256x1024 (two chunks) and NHWC-like 3000x200 (several): mean and variance
   * against the double two-pass reference, relative 1e-5 on the variance (the accuracy contract's
   * order; cancellation is what the mean residual is for), and invStd exactly as derived from the
   * variance (1 / sqrt(var + eps) in double, rounded once), on 1, 2 and 3 threads.
   */
  @Test
  void mergedStatisticsMatchTheDoubleReference() {
    for (NormShape s : new NormShape[] {NormShape.channelsLast(256, 1024), NormShape.channelsLast(3000, 200)}) {
      int n = (int) s.size(), C = s.channels();
      SplittableRandom r = new SplittableRandom(C);
      float[] x = new float[n];
      for (int i = 0; i < n; i++) x[i] = (float) (1e4 + r.nextGaussian() * 0.1);
      double[][] ref = Reference.moments(s, x, 0);
      for (int threads = 1; threads <= 3; threads++) {
        try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
          float[] y = new float[n], mean = new float[C], var = new float[C], inv = new float[C];
          float eps = 1e-3f;
          p.forwardTraining(s, x, 0, null, null, eps, y, 0, mean, var, inv);
          for (int c = 0; c < C; c++) {
            String at = s + " threads " + threads + " channel " + c;
            assertEquals(ref[0][c], mean[c], Math.ulp((float) ref[0][c]), at);
            assertEquals(ref[1][c], var[c], 1e-5 * ref[1][c], at);
            assertEquals((float) (1.0 / Math.sqrt((double) var[c] + eps)), inv[c], at);
          }
        }
      }
    }
  }

  /** The channels-last kernel's moments with the mean residual: same mean and variance bits as without, and mean + residual nearer the double mean. */
  @Test
  void residualFoldKeepsTheBitsAndAddsPrecision() {
    BatchNormSupport impl = VectorizationProvider.get();
    for (int channels : new int[] {1024, 256, 200}) {
      int rows = 128;
      NormShape s = NormShape.channelsLast(rows, channels);
      SplittableRandom r = new SplittableRandom(rows + channels);
      float[] x = new float[rows * channels];
      for (int i = 0; i < x.length; i++) x[i] = (float) (1e4 + r.nextGaussian() * 0.1);
      float[] mean = new float[channels], var = new float[channels], mean2 = new float[channels], var2 = new float[channels];
      float[] residual = new float[channels];
      impl.moments(x, 0, rows, channels, 1, mean, null, var);
      impl.moments(x, 0, rows, channels, 1, mean2, residual, var2);
      assertArrayEquals(mean, mean2);
      assertArrayEquals(var, var2);
      double[][] ref = Reference.moments(s, x, 0);
      for (int c = 0; c < channels; c++) {
        double withResidual = Math.abs((double) mean[c] + residual[c] - ref[0][c]), without = Math.abs(mean[c] - ref[0][c]);
        assertTrue(withResidual <= without + 1e-9 && withResidual < 1e-6, channels + " channel " + c + ": " + withResidual + " vs " + without);
      }
    }
  }

  /**
   * The branch-free merge ParallelBatchNorm runs when every chunk mean is finite gives the branching
   * merge's bits, on uneven chunks and any range split; and the finiteness check that sends a range back
   * to the branching merge sees every +Inf, -Inf and NaN.
   */
  @Test
  void finiteMergeGivesTheBranchingMergesBits() {
    SplittableRandom r = new SplittableRandom(21);
    int channels = 1000, chunks = 5;
    double[] meanA = new double[channels], m2A = new double[channels], meanB = new double[channels], m2B = new double[channels];
    double done = 0;
    for (int i = 0; i < chunks; i++) {
      double n = 1 + r.nextInt(300);
      float[] mean = new float[channels], residual = new float[channels], variance = new float[channels];
      for (int c = 0; c < channels; c++) {
        double m = (c % 3 == 0 ? 1e4 : -3) + r.nextGaussian() * (1 + c % 17);
        mean[c] = (float) m;
        residual[c] = (float) (m - mean[c]);
        variance[c] = (float) (r.nextDouble() * (c % 5 == 0 ? 1e30 : 3));
      }
      Staging.mergeChunk(done, meanA, m2A, 0, channels, 0, mean, residual, variance, n);
      Staging.mergeFiniteChunk(done, meanB, m2B, 0, 256, mean, residual, variance, n);
      Staging.mergeFiniteChunk(done, meanB, m2B, 256, channels, mean, residual, variance, n);
      done += n;
    }
    assertArrayEquals(meanA, meanB);
    assertArrayEquals(m2A, m2B);
    // The merge's finiteness test reads the float means (ParallelBatchNorm.Work.mergeFinite).
    float[] floatMean = new float[channels];
    for (int c = 0; c < channels; c++) floatMean[c] = (float) meanB[c];
    assertTrue(ScalarBatchNormSupport.allFinite(floatMean, 0, channels));
    for (float bad : new float[] {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN}) {
      for (int at : new int[] {0, 1, 998, 999}) {
        float[] a = floatMean.clone();
        a[at] = bad;
        assertTrue(!ScalarBatchNormSupport.allFinite(a, 0, channels), bad + " at " + at);
        assertTrue(ScalarBatchNormSupport.allFinite(a, at == 0 ? 1 : 0, at == 0 ? channels : at), "outside the range");
      }
    }
  }

  /**
   * A non-finite value in one channel sends its merge range to the branching merge: its statistics follow
   * BatchNorm's rule (+Inf mean, NaN variance and invStd), the other channels of that range and of the
   * other ranges stay within float rounding of the double reference, and the bits are the same on 1-3 threads.
   */
  @Test
  void nonFiniteChannelFallsBackToTheBranchingMergeOnAnyThreadCount() {
    NormShape s = NormShape.channelsLast(256, 1024);
    int n = (int) s.size(), C = s.channels();
    SplittableRandom r = new SplittableRandom(5);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (3 + r.nextGaussian());
    x[200 * C + 300] = Float.POSITIVE_INFINITY; // channel 300, in the second chunk
    x[5 * C + 301] = Float.NaN; // channel 301, in the first
    double[][] ref = Reference.moments(s, x, 0);
    float[][] first = null;
    for (int threads = 1; threads <= 3; threads++) {
      try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
        float[] y = new float[n], mean = new float[C], var = new float[C], inv = new float[C];
        p.forwardTraining(s, x, 0, null, null, 1e-3f, y, 0, mean, var, inv);
        assertEquals(Float.POSITIVE_INFINITY, mean[300]);
        assertTrue(Float.isNaN(var[300]) && Float.isNaN(inv[300]) && Float.isNaN(mean[301]) && Float.isNaN(var[301]));
        for (int c = 0; c < C; c++) {
          if (c == 300 || c == 301) continue;
          String at = "threads " + threads + " channel " + c;
          assertEquals(ref[0][c], mean[c], 2 * Math.ulp((float) ref[0][c]), at);
          assertEquals(ref[1][c], var[c], 1e-5 * ref[1][c], at);
          assertEquals((float) (1.0 / Math.sqrt((double) var[c] + 1e-3f)), inv[c], at);
        }
        if (first == null) {
          first = new float[][] {mean, var, inv, y};
        } else {
          assertArrayEquals(first[0], mean);
          assertArrayEquals(first[1], var);
          assertArrayEquals(first[2], inv);
          assertArrayEquals(first[3], y);
        }
      }
    }
  }

  /**
   * A channel whose variance overflows float (finite mean, values of +-3e38) gets an infinite variance and
   * a NaN invStd (Kernels.statisticsInvStd's rule, which the branch-free merge applies), the other channels
   * the invStd of their variance, the same bits on 1-3 threads, on 2 and 5 chunks.
   */
  @Test
  void infiniteVarianceGivesNaNInvStdOnAnyThreadCount() {
    for (NormShape s : new NormShape[] {NormShape.channelsLast(256, 1024), NormShape.channelsLast(600, 1000)}) {
      int n = (int) s.size(), C = s.channels(), rows = s.outer();
      SplittableRandom r = new SplittableRandom(8);
      float[] x = new float[n];
      for (int i = 0; i < n; i++) x[i] = (float) (3 + r.nextGaussian());
      for (int o = 0; o < rows; o++) x[o * C + 700] = o % 2 == 0 ? 3e38f : -3e38f;
      float[][] first = null;
      for (int threads = 1; threads <= 3; threads++) {
        try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
          float[] y = new float[n], mean = new float[C], var = new float[C], inv = new float[C];
          p.forwardTraining(s, x, 0, null, null, 1e-3f, y, 0, mean, var, inv);
          String at = s + " threads " + threads;
          assertTrue(Float.isFinite(mean[700]), at + ": mean " + mean[700]);
          assertEquals(Float.POSITIVE_INFINITY, var[700], at);
          assertTrue(Float.isNaN(inv[700]), at + ": invStd " + inv[700]);
          for (int c = 0; c < C; c++) {
            if (c != 700) assertEquals((float) (1.0 / Math.sqrt((double) var[c] + 1e-3f)), inv[c], at + " channel " + c);
          }
          if (first == null) {
            first = new float[][] {mean, var, inv, y};
          } else {
            assertArrayEquals(first[0], mean, at);
            assertArrayEquals(first[1], var, at);
            assertArrayEquals(first[2], inv, at);
            assertArrayEquals(first[3], y, at);
          }
        }
      }
    }
  }
}
