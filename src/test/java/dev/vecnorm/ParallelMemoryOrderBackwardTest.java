package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertNear;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ParallelBatchNorm's backward on channels-first short planes (160-319 floats, which the kernel walks in memory order):
 * each thread a range of channels, reduced and applied in memory order. The sums must be the chunked reduce's
 * (ParallelBatchNorm.backwardReduce: each chunk's float sums merged in chunk order in double) and dx the single-threaded
 * kernel's apply (BatchNorm.backwardApply) with those sums, for 1, 2 and 3 threads, in place too; and near a float64
 * reference.
 */
class ParallelMemoryOrderBackwardTest {

  /**
   * Chunks of two slabs (the suite's NCHW 32x14x14x256, and 5 images: a last chunk of one slab), one slab per chunk
   * (400 channels of 200), channel blocks of one slab (1024 channels of 196), chunks of 8 slabs with a vector tail at any
   * width (161), and one channel (fewer channels than threads).
   */
  static NormShape[] shapes() {
    return new NormShape[] {NormShape.channelsFirst(32, 256, 196), NormShape.channelsFirst(5, 256, 196),
        NormShape.channelsFirst(3, 400, 200), NormShape.channelsFirst(4, 1024, 196), NormShape.channelsFirst(9, 100, 161),
        NormShape.channelsFirst(1000, 1, 300)};
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void channelRangesHaveTheChunkedBitsForAnyThreadCount(NormShape s) {
    assertTrue(ParallelBatchNorm.Plan.of(s).count() > 1, s + " splits");
    int n = (int) s.size(), C = s.channels();
    float[] x = Reference.data(s, 0, 51), dy = Reference.data(s, 0, 52);
    float[][] st = ParallelFusedBackwardTest.statistics(s, x);
    float[] mean = st[0], inv = st[1];
    for (float[] gamma : new float[][] {Reference.perChannel(C, 1, 0.3, 53), null}) {
      float[] first = null;
      for (int threads : new int[] {1, 2, 3}) {
        try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
          String what = s + ", " + threads + " threads, gamma " + (gamma != null);
          float[] sumDy = new float[C], sumDyXhat = new float[C], expected = new float[n], phases = new float[n];
          p.backwardReduce(s, x, 0, dy, 0, mean, inv, sumDy, sumDyXhat);
          BatchNorm.backwardApply(s, x, 0, dy, 0, gamma, mean, inv, sumDy, sumDyXhat, s.countPerChannel(), expected, 0);
          p.backwardApply(s, x, 0, dy, 0, gamma, mean, inv, sumDy, sumDyXhat, s.countPerChannel(), phases, 0);
          assertArrayEquals(expected, phases, what + ": the chunked apply, forward");

          float[] dx = new float[n], dGamma = new float[C], dBeta = new float[C];
          p.backward(s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
          assertArrayEquals(sumDy, dBeta, what + ": dBeta = the chunked sum(dy)");
          assertArrayEquals(sumDyXhat, dGamma, what + ": dGamma = the chunked sum(dy * xhat)");
          assertArrayEquals(expected, dx, what + ": dx");
          if (first == null) first = dx;
          assertArrayEquals(first, dx, what + ": as 1 thread");

          float[] inPlace = dy.clone();
          p.backward(s, x, 0, inPlace, 0, gamma, mean, inv, inPlace, 0, null, null);
          assertArrayEquals(expected, inPlace, what + ": in place, dx == dy");
          float[] xInPlace = x.clone();
          p.backward(s, xInPlace, 0, dy, 0, gamma, mean, inv, xInPlace, 0, new float[C], new float[C]);
          assertArrayEquals(expected, xInPlace, what + ": in place, dx == x");
        }
      }
      double[][] ref = Reference.backward(s, x, 0, dy, 0, gamma, 1e-3);
      assertNear(ParallelFusedBackwardTest.toFloat(ref[0]), first, 1e-3);
    }
  }
}
