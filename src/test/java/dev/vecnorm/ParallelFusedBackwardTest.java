package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertNear;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ParallelBatchNorm's channel-by-channel backward (channels-first, planes of 1024+ floats, one slab per
 * chunk): the same bits as its own backwardReduce then backwardApply (the chunked reduce and merge),
 * for 1, 2 and 3 threads, on arrays, heap and native segments, in place, with and without gamma and
 * parameter-gradient outputs; and near a double-precision reference.
 */
class ParallelFusedBackwardTest {

  /**
   * Channel blocks of one slab (8x64x3136: the suite's NCHW 64x56x56x64 with 8 images; 2x3x50176: the
   * 224x224 RGB planes), one plane per chunk (1x5x70000), planes of 1031 floats (a vector tail on any
   * width) in blocks of 127 channels, and whole slabs of one image each (3x100x1024). Few channels per
   * thread (3, and 6: whole channels per thread on 1 thread, planes shared on 2 and 3) share each channel's
   * planes among the threads; the others give each thread whole channels, through the kernel's one-call channel
   * ({@code BatchNormSupport.backwardChannel}): the peers' NCHW:8x3x224x224 slabs (224 planes of 672 floats, no
   * vector tail, in channel blocks) with 3 images, and planes just over the fused threshold (161: a vector tail at
   * any width).
   */
  static NormShape[] fusedShapes() {
    return new NormShape[] {NormShape.channelsFirst(8, 64, 3136), NormShape.channelsFirst(2, 3, 50176),
        NormShape.channelsFirst(3, 6, 25_000),
        NormShape.channelsFirst(1, 5, 70_000), NormShape.channelsFirst(2, 130, 1031), NormShape.channelsFirst(3, 100, 1024),
        NormShape.channelsFirst(3, 224, 672), NormShape.channelsFirst(2, 500, 161)};
  }

  record Grad(float[] dx, float[] dGamma, float[] dBeta) {}

  /** Batch statistics from the (parallel) training forward, as a training step would have them. */
  static float[][] statistics(NormShape s, float[] x) {
    int C = s.channels();
    float[] mean = new float[C], var = new float[C], inv = new float[C];
    try (ParallelBatchNorm one = new ParallelBatchNorm(1)) {
      one.forwardTraining(s, x, 0, null, null, 1e-3f, new float[x.length], 0, mean, var, inv);
    }
    return new float[][] {mean, inv};
  }

  @ParameterizedTest
  @MethodSource("fusedShapes")
  void fusedBackwardHasTheBitsOfReduceThenApplyForAnyThreadCount(NormShape s) {
    ParallelBatchNorm.Plan plan = ParallelBatchNorm.Plan.of(s);
    assertTrue(plan.count() > 1, s + " splits");
    for (int i = 0; i < plan.count(); i++) assertEquals(1, plan.outerCount()[i], s + ": one slab per chunk, the fused case");
    int n = (int) s.size(), C = s.channels();
    float[] x = Reference.data(s, 0, 21), dy = Reference.data(s, 0, 22);
    float[] gamma = Reference.perChannel(C, 1, 0.3, 23);
    float[][] st = statistics(s, x);
    float[] mean = st[0], inv = st[1];
    Grad first = null;
    for (int threads : new int[] {1, 2, 3}) {
      try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
        // The phases: chunked reduce, merge in chunk order, chunked apply.
        float[] sumDy = new float[C], sumDyXhat = new float[C], dxPhases = new float[n];
        p.backwardReduce(s, x, 0, dy, 0, mean, inv, sumDy, sumDyXhat);
        p.backwardApply(s, x, 0, dy, 0, gamma, mean, inv, sumDy, sumDyXhat, s.countPerChannel(), dxPhases, 0);

        Grad g = new Grad(new float[n], new float[C], new float[C]);
        p.backward(s, x, 0, dy, 0, gamma, mean, inv, g.dx(), 0, g.dGamma(), g.dBeta());
        String what = s + ", " + threads + " threads";
        assertArrayEquals(sumDy, g.dBeta(), what + ": dBeta = the chunked sum(dy)");
        assertArrayEquals(sumDyXhat, g.dGamma(), what + ": dGamma = the chunked sum(dy * xhat)");
        assertArrayEquals(dxPhases, g.dx(), what + ": dx = backwardApply's");
        if (first == null) first = g;
        assertArrayEquals(first.dx(), g.dx(), what + ": dx as 1 thread");
        assertArrayEquals(first.dGamma(), g.dGamma(), what + ": dGamma as 1 thread");

        float[] dxAgain = new float[n];
        p.backward(s, x, 0, dy, 0, gamma, mean, inv, dxAgain, 0, null, null);
        assertArrayEquals(g.dx(), dxAgain, what + ": without dGamma/dBeta outputs");

        float[] inPlace = dy.clone(); // dx == dy: each plane is read by the reduce and the apply before it is written
        p.backward(s, x, 0, inPlace, 0, gamma, mean, inv, inPlace, 0, new float[C], new float[C]);
        assertArrayEquals(g.dx(), inPlace, what + ": in place, dx == dy");
        float[] xInPlace = x.clone();
        p.backward(s, xInPlace, 0, dy, 0, gamma, mean, inv, xInPlace, 0, null, null);
        assertArrayEquals(g.dx(), xInPlace, what + ": in place, dx == x");

        // Heap segments run on their arrays: the same bits, at a byte offset too.
        float[] dxSeg = new float[n + 3], dGammaSeg = new float[C], dBetaSeg = new float[C];
        float[] xPad = new float[n + 3];
        System.arraycopy(x, 0, xPad, 3, n);
        p.backward(s, MemorySegment.ofArray(xPad), 12, MemorySegment.ofArray(dy.clone()), 0, gamma, mean, inv,
            MemorySegment.ofArray(dxSeg), 12, dGammaSeg, dBetaSeg);
        assertArrayEquals(g.dx(), java.util.Arrays.copyOfRange(dxSeg, 3, n + 3), what + ": heap segments");
        assertArrayEquals(g.dGamma(), dGammaSeg, what + ": heap segments, dGamma");
        MemorySegment dyInPlace = MemorySegment.ofArray(dy.clone());
        p.backward(s, MemorySegment.ofArray(x), 0, dyInPlace, 0, gamma, mean, inv, dyInPlace, 0, null, null);
        assertArrayEquals(g.dx(), dyInPlace.toArray(ValueLayout.JAVA_FLOAT), what + ": heap segment in place, dx == dy");
      }
    }
    // The values: a float64 backward of the same data and statistics.
    double[][] ref = Reference.backward(s, x, 0, dy, 0, gamma, 1e-3);
    assertNear(toFloat(ref[0]), first.dx(), 1e-3);
    assertNear(toFloat(ref[1]), first.dGamma(), 1e-3);
    assertNear(toFloat(ref[2]), first.dBeta(), 1e-3);
  }

  /** gamma = null (Keras scale=False): the fused path passes no gamma, as the chunked apply. */
  @ParameterizedTest
  @MethodSource("fusedShapes")
  void fusedBackwardWithoutGamma(NormShape s) {
    int n = (int) s.size(), C = s.channels();
    float[] x = Reference.data(s, 0, 31), dy = Reference.data(s, 0, 32);
    float[][] st = statistics(s, x);
    try (ParallelBatchNorm p = new ParallelBatchNorm(2)) {
      float[] sumDy = new float[C], sumDyXhat = new float[C], dxPhases = new float[n], dx = new float[n];
      p.backwardReduce(s, x, 0, dy, 0, st[0], st[1], sumDy, sumDyXhat);
      p.backwardApply(s, x, 0, dy, 0, null, st[0], st[1], sumDy, sumDyXhat, s.countPerChannel(), dxPhases, 0);
      p.backward(s, x, 0, dy, 0, null, st[0], st[1], dx, 0, null, null);
      assertArrayEquals(dxPhases, dx, s + ": dx without gamma");
      assertNear(toFloat(Reference.backward(s, x, 0, dy, 0, null, 1e-3)[0]), dx, 1e-3);
    }
  }

  /** Native segments keep the chunked reduce and apply: the same bits for 1, 2 and 3 threads, near the arrays'. */
  @ParameterizedTest
  @MethodSource("fusedShapes")
  void nativeSegmentsGiveTheSameBitsForAnyThreadCount(NormShape s) {
    int n = (int) s.size(), C = s.channels();
    float[] x = Reference.data(s, 0, 41), dy = Reference.data(s, 0, 42), gamma = Reference.perChannel(C, 1, 0.3, 43);
    float[][] st = statistics(s, x);
    float[] arrays = new float[n];
    float[] first = null;
    try (Arena arena = Arena.ofShared()) {
      MemorySegment xs = arena.allocate(4L * n, 64).copyFrom(MemorySegment.ofArray(x));
      MemorySegment dys = arena.allocate(4L * n, 64), dxs = arena.allocate(4L * n, 64);
      for (int threads : new int[] {1, 2, 3}) {
        try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
          if (threads == 1) p.backward(s, x, 0, dy, 0, gamma, st[0], st[1], arrays, 0, null, null);
          dys.copyFrom(MemorySegment.ofArray(dy));
          p.backward(s, xs, 0, dys, 0, gamma, st[0], st[1], dxs, 0, new float[C], new float[C]);
          float[] dx = dxs.toArray(ValueLayout.JAVA_FLOAT);
          if (first == null) first = dx;
          assertArrayEquals(first, dx, s + ", native, " + threads + " threads");
          p.backward(s, xs, 0, dys, 0, gamma, st[0], st[1], dys, 0, null, null); // in place, dx == dy
          assertArrayEquals(first, dys.toArray(ValueLayout.JAVA_FLOAT), s + ", native in place, " + threads + " threads");
        }
      }
    }
    assertNear(arrays, first, 1e-3);
  }

  static float[] toFloat(double[] a) {
    float[] f = new float[a.length];
    for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
    return f;
  }
}
