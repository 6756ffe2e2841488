package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.PanamaBatchNormSupportAccess;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Panama channels-first fused backward ({@code backward} with planes of 1024+ floats), whose apply walks
 * each channel backwards (last plane first, each plane in 4096-float blocks from its end): the same bits as
 * {@code backwardReduce} then {@code backwardApply}, also in place (dx = x, dx = dy), and near the
 * double-precision reference; {@code backwardApply} on its own (which walks long planes back as well) in place.
 * Planes here span several blocks, with and without a ragged end.
 */
class FusedBackwardOrderTest {

  /**
   * 2 and 3 blocks exactly (8192, 12288), ragged (9001, 4097: a one-float last block and a vector tail), one short block (5000);
   * short planes that also go channel by channel: the threshold (160), 169, 196, 672, and 1023 (a vector tail at any width).
   * Planes of one block or less (up to 4096) are pipelined below 16 lanes (channel c's reduce in one loop with channel c - 1's
   * apply; the pipelined walk is also run directly, on arrays and on native segments, at any width): one channel (no pair at
   * all), a single batch item, and exactly one block. Short planes that go in memory order
   * instead ({@code PanamaBatchNormSupport.memoryOrder}) on each side of each of its bounds: under 320 floats (319 against
   * 320 at N=2), under 512 with 8+ planes a channel (400 and 511 at N=8 against 500 at N=7 and 512 at N=9), under 2560 in
   * tensors of 1.25 Mi floats and more with 8+ planes a channel (2048 at exactly 1.25 Mi against 2560 at 1.25 Mi, 2048
   * just under, and 2048 at 1.25 Mi with N=4), of 2 Mi floats and more with fewer (2048 at exactly 2 Mi, 2559 ragged,
   * against 2048 just under).
   */
  static NormShape[] shapes() {
    return new NormShape[] {NormShape.channelsFirst(2, 3, 8192), NormShape.channelsFirst(3, 2, 9001),
        NormShape.channelsFirst(1, 3, 12_288), NormShape.channelsFirst(4, 1, 4097), NormShape.channelsFirst(2, 2, 5000),
        NormShape.channelsFirst(3, 5, 160), NormShape.channelsFirst(7, 17, 169), NormShape.channelsFirst(5, 9, 196),
        NormShape.channelsFirst(8, 6, 672), NormShape.channelsFirst(2, 3, 1023), NormShape.channelsFirst(3, 1, 700),
        NormShape.channelsFirst(1, 4, 301), NormShape.channelsFirst(2, 3, 4096),
        NormShape.channelsFirst(2, 4, 319), NormShape.channelsFirst(2, 3, 320), NormShape.channelsFirst(8, 6, 400),
        NormShape.channelsFirst(8, 2, 511), NormShape.channelsFirst(7, 3, 500), NormShape.channelsFirst(9, 2, 512),
        NormShape.channelsFirst(8, 80, 2048), NormShape.channelsFirst(8, 64, 2560), NormShape.channelsFirst(8, 79, 2048),
        NormShape.channelsFirst(4, 160, 2048), NormShape.channelsFirst(4, 256, 2048), NormShape.channelsFirst(2, 410, 2559),
        NormShape.channelsFirst(4, 255, 2048)};
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void fusedBackwardHasTheBitsOfReduceThenApplyAndIsNearTheReference(NormShape s) {
    var panama = VectorizationProvider.panama();
    assumeTrue(panama.isPresent(), "no Panama implementation on this JVM");
    BatchNormSupport impl = panama.get();
    int n = (int) s.size(), C = s.channels(), outer = s.outer(), inner = s.inner();
    float[] x = Reference.data(s, 0, 41), dy = Reference.data(s, 0, 42), gamma = Reference.perChannel(C, 1, 0.3, 43);
    double[][] st = Reference.moments(s, x, 0);
    float[] mean = new float[C], invStd = new float[C];
    for (int c = 0; c < C; c++) {
      mean[c] = (float) st[0][c];
      invStd[c] = (float) (1 / Math.sqrt(st[1][c] + KernelsTest.EPS));
    }
    double count = s.countPerChannel();

    float[] sumDy = new float[C], sumDyXhat = new float[C], expected = new float[n];
    impl.backwardReduce(x, 0, dy, 0, outer, C, inner, mean, invStd, sumDy, sumDyXhat);
    impl.backwardApply(x, 0, dy, 0, expected, 0, outer, C, inner, mean, invStd, gamma, sumDy, sumDyXhat, count);

    float[] dx = new float[n], fusedDy = new float[C], fusedDyXhat = new float[C];
    impl.backward(x, 0, dy, 0, dx, 0, outer, C, inner, mean, invStd, gamma, fusedDy, fusedDyXhat, count);
    assertArrayEquals(expected, dx, s + " dx");
    assertArrayEquals(sumDy, fusedDy, s + " sumDy");
    assertArrayEquals(sumDyXhat, fusedDyXhat, s + " sumDyXhat");

    float[] xInPlace = x.clone(), dyInPlace = dy.clone();
    impl.backward(xInPlace, 0, dy, 0, xInPlace, 0, outer, C, inner, mean, invStd, gamma, fusedDy, fusedDyXhat, count);
    assertArrayEquals(expected, xInPlace, s + " dx = x");
    impl.backward(x, 0, dyInPlace, 0, dyInPlace, 0, outer, C, inner, mean, invStd, gamma, fusedDy, fusedDyXhat, count);
    assertArrayEquals(expected, dyInPlace, s + " dx = dy");
    float[] applyInPlace = dy.clone(); // backwardApply alone walks long planes back too (ParallelBatchNorm, synchronized BN)
    impl.backwardApply(x, 0, applyInPlace, 0, applyInPlace, 0, outer, C, inner, mean, invStd, gamma, sumDy, sumDyXhat, count);
    assertArrayEquals(expected, applyInPlace, s + " backwardApply dx = dy");

    if (inner >= BatchNormSupport.FUSED_MIN_INNER && inner <= 4096) {
      // The pipelined walk, which backward takes only below 16 lanes: the same bits at any width, on arrays and on segments.
      float[] pdx = new float[n], pDy = new float[C], pDyXhat = new float[C];
      PanamaBatchNormSupportAccess.pipelined(x, dy, pdx, outer, C, inner, mean, invStd, gamma, pDy, pDyXhat, count);
      assertArrayEquals(expected, pdx, s + " pipelined dx");
      assertArrayEquals(sumDy, pDy, s + " pipelined sumDy");
      assertArrayEquals(sumDyXhat, pDyXhat, s + " pipelined sumDyXhat");
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment nx = arena.allocate(4L * n, 64).copyFrom(MemorySegment.ofArray(x));
        MemorySegment ndy = arena.allocate(4L * n, 64).copyFrom(MemorySegment.ofArray(dy)), ndx = arena.allocate(4L * n, 64);
        float[] nDy = new float[C], nDyXhat = new float[C];
        PanamaBatchNormSupportAccess.pipelined(nx, ndy, ndx, outer, C, inner, mean, invStd, gamma, nDy, nDyXhat, count);
        assertArrayEquals(expected, ndx.toArray(ValueLayout.JAVA_FLOAT), s + " native pipelined dx");
        assertArrayEquals(sumDy, nDy, s + " native pipelined sumDy");
        assertArrayEquals(sumDyXhat, nDyXhat, s + " native pipelined sumDyXhat");
      }
    }

    // Near the float64 backward (tolerances as KernelsTest's: 2e-4 of the terms' magnitudes, plus 1e-6).
    double[][] ref = Reference.backward(s, x, 0, dy, 0, gamma, KernelsTest.EPS);
    for (int c = 0; c < C; c++) {
      double absDy = 0, absDyXhat = 0;
      for (int o = 0; o < outer; o++) {
        for (int i = 0; i < inner; i++) {
          int k = Reference.index(s, o, c, i);
          absDy += Math.abs(dy[k]);
          absDyXhat += Math.abs(dy[k] * (x[k] - st[0][c]) * invStd[c]);
        }
      }
      double a = Math.abs(gamma[c] * invStd[c]);
      for (int o = 0; o < outer; o++) {
        for (int i = 0; i < inner; i++) {
          int k = Reference.index(s, o, c, i);
          double xhat = Math.abs((x[k] - st[0][c]) * invStd[c]);
          double scale = a * (Math.abs(dy[k]) + absDy / count + xhat * absDyXhat / count);
          assertClose(s + " dx at " + k, ref[0][k], dx[k], 2e-4 * scale + 1e-6);
        }
      }
    }
  }
}
