package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link BatchNormSupport#normalizeFolded}, the channels-last normalize that takes {@code [alpha | shift | mean]}
 * folded by the caller, and {@link ParallelBatchNorm}'s training forward, whose merge ranges fold them: both
 * must give the bits of the kernels' own {@link BatchNormSupport#normalize} with the same statistics, for
 * every kernel layout (a super row of one row, tiled super rows, ragged wide rows with a channel tail).
 */
class ParallelBatchNormFoldedTest {

  /** 1024 and 256: a super row is one row; 1, 17, 64, 200: tiled super rows; 1023: ragged wide rows (scalar tail). */
  static final int[] CHANNELS = {1, 17, 64, 200, 256, 1023, 1024};

  static List<BatchNormSupport> impls() {
    List<BatchNormSupport> all = new ArrayList<>();
    all.add(VectorizationProvider.scalar());
    VectorizationProvider.panama().ifPresent(all::add);
    return all;
  }

  /** alpha = gamma * invStd (invStd alone without gamma), shift = beta (0 without): the documented fold. */
  static float[] fold(float[] mean, float[] invStd, float[] gamma, float[] beta) {
    int C = mean.length;
    float[] k = new float[3 * C];
    for (int c = 0; c < C; c++) {
      k[c] = gamma == null ? invStd[c] : gamma[c] * invStd[c];
      k[C + c] = beta == null ? 0f : beta[c];
      k[2 * C + c] = mean[c];
    }
    return k;
  }

  @Test
  void theFoldedKernelGivesNormalizesBitsAndTheDoubleValues() {
    for (BatchNormSupport impl : impls()) {
      for (int C : CHANNELS) {
        for (boolean affine : new boolean[] {true, false}) {
          int rows = 37, off = 3; // an odd row count (a partial super row) and unaligned offsets
          NormShape s = NormShape.channelsLast(rows, C);
          float[] x = Reference.data(s, off, C);
          float[] mean = Reference.perChannel(C, 0, 2, 1), invStd = Reference.perChannel(C, 1, 0.2, 2);
          float[] gamma = affine ? Reference.perChannel(C, 1, 0.3, 3) : null, beta = affine ? Reference.perChannel(C, 0, 1, 4) : null;
          float[] coef = fold(mean, invStd, gamma, beta);
          String what = impl.name() + " " + C + " channels" + (affine ? "" : ", no gamma/beta");
          float[] expected = new float[x.length], got = new float[x.length];
          impl.normalize(x, off, expected, off, rows, C, 1, mean, invStd, false, 1e-3f, gamma, beta);
          impl.normalizeFolded(x, off, got, off, rows, C, coef);
          assertArrayEquals(expected, got, what);
          float[] inPlace = x.clone();
          impl.normalizeFolded(inPlace, off, inPlace, off, rows, C, coef);
          int end = off + rows * C;
          for (int k = 0; k < x.length; k++) {
            if (k < off || k >= end) assertTrue(inPlace[k] == x[k] && got[k] == 0f, what + ": nothing outside the tensor is written");
          }
          assertArrayEquals(Arrays.copyOfRange(expected, off, end), Arrays.copyOfRange(inPlace, off, end), what + ", in place");
          // y = (x - mean) * alpha + shift with float factors: one fma rounding, relative 1e-6 of the terms.
          for (int r = 0; r < rows; r++) {
            for (int c = 0; c < C; c++) {
              int k = off + r * C + c;
              double d = ((double) x[k] - mean[c]) * coef[c] + coef[C + c];
              double scale = Math.abs(((double) x[k] - mean[c]) * coef[c]) + Math.abs(coef[C + c]);
              assertClose(what + " y " + k, d, got[k], 1e-6 * (1 + scale));
            }
          }
        }
      }
    }
  }

  /** The training forward's y: the kernel's normalize with the call's own statistics, bit for bit, on 1 and 2 threads. */
  @Test
  void theMergeRangesFoldTheKernelsCoefficients() {
    for (int C : new int[] {1024, 1023, 200, 17}) {
      NormShape s = NormShape.channelsLast(Math.max(300, 400_000 / C), C);
      assertTrue(ParallelBatchNorm.Plan.of(s).count() > 1, s + " must be cut into several chunks");
      float[] x = Reference.data(s, 0, 31 + C);
      for (boolean affine : new boolean[] {true, false}) {
        float[] gamma = affine ? Reference.perChannel(C, 1, 0.3, 32) : null, beta = affine ? Reference.perChannel(C, 0, 1, 33) : null;
        for (int threads : new int[] {1, 2}) {
          try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
            float[] y = new float[x.length], mean = new float[C], var = new float[C], inv = new float[C];
            p.forwardTraining(s, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, inv);
            float[] expected = new float[x.length];
            VectorizationProvider.get().normalize(x, 0, expected, 0, s.outer(), C, 1, mean, inv, false, 1e-3f, gamma, beta);
            assertArrayEquals(expected, y, s + (affine ? "" : ", no gamma/beta") + ", " + threads + " threads");
          }
        }
      }
    }
  }
}
