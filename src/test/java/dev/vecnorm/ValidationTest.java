package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every bad input throws a named exception before any output is written. */
class ValidationTest {

  static final NormShape S = NormShape.channelsLast(4, 3);
  static final float SENTINEL = 12345f;

  float[] x = Reference.data(S, 0, 1), y = filled(12), mean = filled(3), var = filled(3), inv = filled(3);
  float[] gamma = {1, 1, 1}, beta = {0, 0, 0};

  static float[] filled(int n) {
    float[] a = new float[n];
    Arrays.fill(a, SENTINEL);
    return a;
  }

  <T extends Throwable> void rejects(Class<T> type, String mentions, Executable call) {
    T e = assertThrows(type, call);
    assertTrue(String.valueOf(e.getMessage()).contains(mentions), "message '" + e.getMessage() + "' should mention " + mentions);
    for (float[] out : new float[][] {y, mean, var, inv}) {
      for (float v : out) assertTrue(v == SENTINEL, "an output was written before the argument was rejected");
    }
  }

  void train(NormShape s, float[] x, int xOff, float[] g, float[] b, float eps, float[] y, int yOff, float[] m, float[] v, float[] i) {
    BatchNorm.forwardTraining(s, x, xOff, g, b, eps, y, yOff, m, v, i);
  }

  @Test
  void forwardTrainingRejectsBadArguments() {
    rejects(NullPointerException.class, "shape", () -> train(null, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, inv));
    rejects(NullPointerException.class, "x", () -> train(S, null, 0, gamma, beta, 1e-3f, y, 0, mean, var, inv));
    rejects(NullPointerException.class, "y", () -> train(S, x, 0, gamma, beta, 1e-3f, null, 0, mean, var, inv));
    rejects(NullPointerException.class, "batchMean", () -> train(S, x, 0, gamma, beta, 1e-3f, y, 0, null, var, inv));
    rejects(IllegalArgumentException.class, "xOffset", () -> train(S, x, -1, gamma, beta, 1e-3f, y, 0, mean, var, inv));
    rejects(IllegalArgumentException.class, "x must hold", () -> train(S, x, 1, gamma, beta, 1e-3f, y, 0, mean, var, inv));
    rejects(IllegalArgumentException.class, "y must hold", () -> train(S, x, 0, gamma, beta, 1e-3f, new float[11], 0, mean, var, inv));
    rejects(IllegalArgumentException.class, "gamma must have length channels = 3", () -> train(S, x, 0, new float[4], beta, 1e-3f, y, 0, mean, var, inv));
    rejects(IllegalArgumentException.class, "beta", () -> train(S, x, 0, gamma, new float[2], 1e-3f, y, 0, mean, var, inv));
    rejects(IllegalArgumentException.class, "invStd", () -> train(S, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, new float[1]));
    rejects(IllegalArgumentException.class, "batchVariance", () -> train(S, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, var));
    for (float eps : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
      rejects(IllegalArgumentException.class, "epsilon", () -> train(S, x, 0, gamma, beta, eps, y, 0, mean, var, inv));
    }
  }

  @Test
  void shapesRejectBadDimensions() {
    assertThrows(IllegalArgumentException.class, () -> new NormShape(0, 3, 1));
    assertThrows(IllegalArgumentException.class, () -> new NormShape(2, -3, 1));
    assertThrows(IllegalArgumentException.class, () -> NormShape.channelsLast(-1, 3));
    assertThrows(IllegalArgumentException.class, () -> NormShape.channelsFirst(1, 3, 0));
    assertThrows(IllegalArgumentException.class, () -> NormShape.of(new int[] {2, 3}, 2));
    assertThrows(IllegalArgumentException.class, () -> NormShape.of(new int[] {2, 0, 3}, 0));
    assertThrows(IllegalArgumentException.class, () -> NormShape.of(new int[] {}, 0));
    IllegalArgumentException tooBig = assertThrows(IllegalArgumentException.class, () -> train(
        new NormShape(65536, 65536, 1), x, 0, null, null, 1e-3f, y, 0, mean, var, inv));
    assertTrue(tooBig.getMessage().contains("MemorySegment"), tooBig.getMessage());
  }

  @Test
  void shapeOfFollowsKerasAxes() {
    int[] dims = {2, 5, 7, 3};
    org.junit.jupiter.api.Assertions.assertEquals(new NormShape(70, 3, 1), NormShape.of(dims, -1));
    org.junit.jupiter.api.Assertions.assertEquals(new NormShape(2, 5, 21), NormShape.of(dims, 1));
    org.junit.jupiter.api.Assertions.assertEquals(new NormShape(10, 7, 3), NormShape.of(dims, -2));
    org.junit.jupiter.api.Assertions.assertEquals(new NormShape(1, 2, 105), NormShape.of(dims, 0));
  }

  @Test
  void inferenceBackwardAndUpdateRejectBadArguments() {
    float[] mm = {0, 0, 0}, mv = {1, 1, 1};
    rejects(IllegalArgumentException.class, "movingVariance", () -> BatchNorm.forwardInference(S, x, 0, gamma, beta, mm, new float[2], 1e-3f, y, 0));
    rejects(IllegalArgumentException.class, "epsilon", () -> BatchNorm.forwardInference(S, x, 0, gamma, beta, mm, mv, -1f, y, 0));
    float[] dx = y, dGamma = mean, dBeta = var;
    rejects(IllegalArgumentException.class, "dy must hold", () -> BatchNorm.backward(S, x, 0, new float[3], 0, gamma, mm, mv, dx, 0, dGamma, dBeta));
    rejects(IllegalArgumentException.class, "dGamma", () -> BatchNorm.backward(S, x, 0, x, 0, gamma, mm, mv, dx, 0, new float[5], dBeta));
    rejects(IllegalArgumentException.class, "batchMean", () -> BatchNorm.backward(S, x, 0, x, 0, gamma, new float[2], mv, dx, 0, dGamma, dBeta));
    rejects(IllegalArgumentException.class, "globalCount", () -> BatchNorm.backwardApply(S, x, 0, x, 0, gamma, mm, mv, mm, mv, 3, dx, 0));
    for (float momentum : new float[] {-0.1f, 1.5f, Float.NaN}) {
      rejects(IllegalArgumentException.class, "momentum", () -> BatchNorm.updateMovingStatistics(momentum, mm, mv, mean, var));
    }
    rejects(IllegalArgumentException.class, "movingVariance", () -> BatchNorm.updateMovingStatistics(0.9f, mm, mv, mean, new float[1]));
  }

  @Test
  void segmentsAreCheckedForBoundsReadOnlyOverlapAndLiveness() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = arena.allocate(48), ys = arena.allocate(48);
      rejects(IllegalArgumentException.class, "byteSize", () -> BatchNorm.forwardTraining(S, xs, 4, gamma, beta, 1e-3f, ys, 0, mean, var, inv));
      rejects(IllegalArgumentException.class, "read-only", () -> BatchNorm.forwardTraining(S, xs, 0, gamma, beta, 1e-3f, ys.asReadOnly(), 0, mean, var, inv));
      MemorySegment big = arena.allocate(100);
      rejects(IllegalArgumentException.class, "overlaps", () -> BatchNorm.forwardTraining(S, big, 0, gamma, beta, 1e-3f, big, 8, mean, var, inv));
    }
    Arena closed = Arena.ofConfined();
    MemorySegment dead = closed.allocate(48);
    closed.close();
    rejects(IllegalArgumentException.class, "closed", () -> BatchNorm.forwardTraining(S, dead, 0, gamma, beta, 1e-3f, MemorySegment.ofArray(y), 0, mean, var, inv));
  }

  @Test
  void momentsValidateChannelsAndPackedLength() {
    assertThrows(IllegalArgumentException.class, () -> BatchNorm.moments(S, x, 0, new Moments(4)));
    assertThrows(IllegalArgumentException.class, () -> new Moments(2).merge(new Moments(3)));
    assertThrows(IllegalArgumentException.class, () -> Moments.unpack(new double[4]));
    assertThrows(IllegalStateException.class, () -> new Moments(2).varianceTo(new float[2]));
    float[] before = x.clone();
    assertThrows(IllegalArgumentException.class, () -> BatchNorm.normalize(S, x, 0, new float[3], new float[3], null, null, x, 1));
    assertArrayEquals(before, x);
  }

  // ------------------------------------------------------------------ aliasing, overlaps, accessibility, overflow

  /**
   * {@code call} throws {@code type} with a message mentioning every string in {@code mentions}, and leaves
   * every array in {@code watched} bit for bit as it was.
   */
  static <T extends Throwable> void rejectsUntouched(Class<T> type, String[] mentions, Executable call, float[]... watched) {
    List<float[]> before = new ArrayList<>();
    for (float[] a : watched) before.add(a.clone());
    T e = assertThrows(type, call);
    for (String m : mentions) {
      assertTrue(String.valueOf(e.getMessage()).contains(m), "message '" + e.getMessage() + "' should mention " + m);
    }
    for (int k = 0; k < watched.length; k++) {
      for (int i = 0; i < watched[k].length; i++) {
        assertTrue(Float.floatToRawIntBits(before.get(k)[i]) == Float.floatToRawIntBits(watched[k][i]),
            "argument " + k + " element " + i + " was written before the call was rejected");
      }
    }
  }

  static String[] names(String... names) {
    return names;
  }

  /** The example: gamma passed as batchMean gave y = [-2,-15,2,15] instead of [-2,-2,2,2]. */
  @Test
  void perChannelOutputsThatAreInputsAreRejected() {
    NormShape s = NormShape.channelsLast(2, 2);
    float[] xs = {1, 10, 3, 20}, g = {2, 2}, v = filled(2), i2 = filled(2), y4 = filled(4), b = {0.5f, 0.5f};
    rejectsUntouched(IllegalArgumentException.class, names("batchMean", "gamma"),
        () -> BatchNorm.forwardTraining(s, xs, 0, g, null, 1e-3f, y4, 0, g, v, i2), xs, g, v, i2, y4);
    rejectsUntouched(IllegalArgumentException.class, names("invStd", "beta"),
        () -> BatchNorm.forwardTraining(s, xs, 0, g, b, 1e-3f, y4, 0, v, i2, b), xs, g, b, v, i2, y4);
    rejectsUntouched(IllegalArgumentException.class, names("batchVariance", "gamma"),
        () -> BatchNormRelu.forwardTraining(s, xs, 0, null, 0, g, b, 1e-3f, y4, 0, v, g, i2), g, b, v, i2, y4);
    try (ParallelBatchNorm par = new ParallelBatchNorm(2)) {
      rejectsUntouched(IllegalArgumentException.class, names("batchMean", "gamma"),
          () -> par.forwardTraining(s, xs, 0, g, null, 1e-3f, y4, 0, g, v, i2), g, v, i2, y4);
      rejectsUntouched(IllegalArgumentException.class, names("batchMean", "beta"),
          () -> par.forwardTrainingRelu(s, xs, 0, null, 0, g, b, 1e-3f, y4, 0, b, v, i2), g, b, v, i2, y4);
      rejectsUntouched(IllegalArgumentException.class, names("dGamma", "gamma"),
          () -> par.backward(s, xs, 0, xs, 0, g, b, i2, y4, 0, g, v), g, b, v, i2, y4);
      rejectsUntouched(IllegalArgumentException.class, names("dBeta", "batchMean"),
          () -> par.backwardRelu(s, xs, 0, y4, 0, xs, 0, g, b, i2, filled(4), 0, null, 0, v, b), g, b, v, i2, y4);
    }
    float[] mean = filled(2), inv = filled(2), dx = filled(4), dG = filled(2);
    rejectsUntouched(IllegalArgumentException.class, names("dGamma", "gamma"),
        () -> BatchNorm.backward(s, xs, 0, xs, 0, g, mean, inv, dx, 0, g, null), g, mean, inv, dx);
    rejectsUntouched(IllegalArgumentException.class, names("dBeta", "batchMean"),
        () -> BatchNorm.backward(s, xs, 0, xs, 0, g, mean, inv, dx, 0, dG, mean), g, mean, inv, dx, dG);
    rejectsUntouched(IllegalArgumentException.class, names("dBeta", "invStd"),
        () -> BatchNorm.backward(s, MemorySegment.ofArray(xs), 0, MemorySegment.ofArray(xs), 0, g, mean, inv,
            MemorySegment.ofArray(dx), 0, dG, inv), g, mean, inv, dx, dG);
    rejectsUntouched(IllegalArgumentException.class, names("dGamma", "invStd"),
        () -> BatchNormRelu.backward(s, xs, 0, y4, 0, xs, 0, g, mean, inv, dx, 0, null, 0, inv, dG), g, mean, inv, dx, dG, y4);
    rejectsUntouched(IllegalArgumentException.class, names("sumDy", "mean"),
        () -> BatchNorm.backwardReduce(s, xs, 0, xs, 0, mean, inv, mean, dG), mean, inv, dG);
    rejectsUntouched(IllegalArgumentException.class, names("sumDyXhat", "invStd"),
        () -> BatchNorm.backwardReduce(s, xs, 0, xs, 0, mean, inv, dG, inv), mean, inv, dG);
    float[] mm = {0, 0}, mv = {1, 1};
    rejectsUntouched(IllegalArgumentException.class, names("movingMean", "batchVariance"),
        () -> BatchNorm.updateMovingStatistics(0.9f, mean, mm, mm, mv), mean, mm, mv);
    rejectsUntouched(IllegalArgumentException.class, names("movingVariance", "batchMean"),
        () -> BatchNorm.updateMovingStatistics(0.9f, mv, mean, mm, mv, 4, MovingVariance.UNBIASED), mean, mm, mv);
    BlockedShape bs = new BlockedShape(1, 2, 2, 8);
    float[] xb = new float[bs.size()], yb = filled(bs.size());
    rejectsUntouched(IllegalArgumentException.class, names("invStd", "gamma"),
        () -> BlockedLayout.forwardTraining(bs, xb, 0, g, b, 1e-3f, yb, 0, mean, v, g), g, b, mean, v, yb);
    rejectsUntouched(IllegalArgumentException.class, names("dGamma", "batchMean"),
        () -> BlockedLayout.backward(bs, xb, 0, xb, 0, g, mean, inv, yb, 0, mean, dG), g, mean, inv, dG, yb);
  }

  /** Moments merged with itself is the moments of two copies of the batch: same mean, twice count and M2. */
  @Test
  void momentsMergedWithThemselvesCountTwice() {
    Moments m = Moments.of(5, new double[] {1, -2}, new double[] {4, 8});
    m.merge(m);
    org.junit.jupiter.api.Assertions.assertEquals(10, m.count());
    org.junit.jupiter.api.Assertions.assertEquals(-2, m.mean(1));
    org.junit.jupiter.api.Assertions.assertEquals(16, m.m2(1));
  }

  @Test
  void fusedReluOverlapsAreRejected() {
    NormShape s = NormShape.channelsLast(4, 3);
    int n = 12;
    float[] mm = {0, 0, 0}, inv = {1, 1, 1}, dG = filled(3), dB = filled(3);
    float[] big = Reference.data(NormShape.channelsLast(10, 3), 0, 7), y0 = Reference.data(S, 0, 8), dy0 = Reference.data(S, 0, 9);
    // dx shifted against y
    rejectsUntouched(IllegalArgumentException.class, names("dx", "y"),
        () -> BatchNormRelu.backward(s, x, 0, big, 0, dy0, 0, gamma, mm, inv, big, 3, null, 0, dG, dB), big, dG, dB, dy0, x);
    // dResidual overlapping dx, x or y, even at the same offset; dResidual == dx
    rejectsUntouched(IllegalArgumentException.class, names("dResidual", "dx"),
        () -> BatchNormRelu.backward(s, x, 0, y0, 0, dy0, 0, gamma, mm, inv, big, 0, big, 5, dG, dB), big, dG, dB, dy0, x, y0);
    rejectsUntouched(IllegalArgumentException.class, names("dResidual", "dx"),
        () -> BatchNormRelu.backward(s, x, 0, y0, 0, dy0, 0, gamma, mm, inv, big, 0, big, 0, dG, dB), big, dG, dB, dy0, x, y0);
    rejectsUntouched(IllegalArgumentException.class, names("dResidual", "x"),
        () -> BatchNormRelu.backward(s, big, 0, y0, 0, dy0, 0, gamma, mm, inv, filled(n), 0, big, 2, dG, dB), big, dG, dB, dy0, y0);
    rejectsUntouched(IllegalArgumentException.class, names("dResidual", "x"),
        () -> BatchNormRelu.backward(s, big, 4, y0, 0, dy0, 0, gamma, mm, inv, filled(n), 0, big, 4, dG, dB), big, dG, dB, dy0, y0);
    rejectsUntouched(IllegalArgumentException.class, names("dResidual", "y"),
        () -> BatchNormRelu.backward(s, x, 0, big, 1, dy0, 0, gamma, mm, inv, filled(n), 0, big, 0, dG, dB), big, dG, dB, dy0, x);
    rejectsUntouched(IllegalArgumentException.class, names("dResidual", "dy"),
        () -> BatchNormRelu.backward(s, x, 0, y0, 0, big, 0, gamma, mm, inv, filled(n), 0, big, 6, dG, dB), big, dG, dB, x, y0);
    // forward: y shifted against the residual
    rejectsUntouched(IllegalArgumentException.class, names("y", "residual"),
        () -> BatchNormRelu.forwardInference(s, x, 0, big, 0, gamma, beta, mm, inv, 1e-3f, big, 2), big, x);
    try (ParallelBatchNorm par = new ParallelBatchNorm(2)) {
      rejectsUntouched(IllegalArgumentException.class, names("dResidual", "dx"),
          () -> par.backwardRelu(s, x, 0, y0, 0, dy0, 0, gamma, mm, inv, big, 0, big, 0, dG, dB), big, dG, dB, dy0, x, y0);
      rejectsUntouched(IllegalArgumentException.class, names("dx", "y"),
          () -> par.backwardRelu(s, x, 0, big, 0, dy0, 0, gamma, mm, inv, big, 1, null, 0, dG, dB), big, dG, dB, dy0, x);
    }
  }

  @Test
  void blockedOverlapsAreRejected() {
    BlockedShape b = new BlockedShape(2, 3, 5, 8);
    int plain = 2 * 3 * 5, blocked = b.size();
    float[] a = Reference.data(NormShape.channelsLast(1, 2 * blocked), 0, 3), c = filled(3);
    float[] stats = {0, 0, 0}, inv = {1, 1, 1}, dG = filled(3), dB = filled(3);
    rejectsUntouched(IllegalArgumentException.class, names("blocked", "nchw"), () -> BlockedLayout.fromNchw(b, a, 0, a, 0), a);
    rejectsUntouched(IllegalArgumentException.class, names("blocked", "nhwc"), () -> BlockedLayout.fromNhwc(b, a, 7, a, 0), a);
    rejectsUntouched(IllegalArgumentException.class, names("nchw", "blocked"), () -> BlockedLayout.toNchw(b, a, 0, a, blocked - 1), a);
    rejectsUntouched(IllegalArgumentException.class, names("nhwc", "blocked"), () -> BlockedLayout.toNhwc(b, a, plain - 1, a, 0), a);
    float[] xb = Reference.data(NormShape.channelsLast(1, blocked), 0, 4);
    rejectsUntouched(IllegalArgumentException.class, names("dx", "dy"),
        () -> BlockedLayout.backward(b, xb, 0, a, 0, null, stats, inv, a, 8, dG, dB), a, xb, dG, dB, c);
    // Disjoint ranges of one array are fine for a conversion.
    BlockedLayout.fromNchw(b, a, 0, a, plain);
  }

  /** A read-only view, a slice over the same native memory: other segment objects, same memory, found by address. */
  @Test
  void segmentOverlapIsFoundThroughOtherSegmentObjects() {
    float[] arr = Reference.data(NormShape.channelsLast(10, 3), 0, 11), stats = filled(3), v = filled(3), i3 = filled(3);
    MemorySegment heap = MemorySegment.ofArray(arr);
    rejectsUntouched(IllegalArgumentException.class, names("overlaps"),
        () -> BatchNorm.forwardTraining(S, heap.asReadOnly(), 0, gamma, beta, 1e-3f, heap, 8, stats, v, i3), arr, stats, v, i3);
    rejectsUntouched(IllegalArgumentException.class, names("dx", "overlaps"),
        () -> BatchNorm.backward(S, MemorySegment.ofArray(x), 0, heap.asReadOnly(), 0, gamma, new float[3], new float[3], heap, 4, stats, v),
        arr, stats, v);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment nat = arena.allocate(200, 4);
      MemorySegment.copy(heap, 0, nat, 0, 120);
      MemorySegment alias = nat.asSlice(16, 100);
      float[] before = nat.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
      assertThrows(IllegalArgumentException.class, () -> BatchNorm.forwardTraining(S, nat, 0, gamma, beta, 1e-3f, alias, 0, stats, v, i3));
      assertArrayEquals(before, nat.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT));
      for (float f : stats) assertTrue(f == SENTINEL);
      // Same memory and offset through two objects is in place, and allowed.
      BatchNorm.forwardTraining(S, nat, 16, gamma, beta, 1e-3f, alias, 0, stats, v, i3);
    }
  }

  /** The segment check for outputs that may not even be in place (ParallelBatchNorm's fused backward on segments). */
  @Test
  void segmentDisjointFindsAnySharedByte() {
    NormShape s = NormShape.channelsLast(2, 3); // 24 bytes
    MemorySegment heap = MemorySegment.ofArray(new float[20]);
    assertThrows(IllegalArgumentException.class, () -> Checks.disjoint("dResidual", heap, 0, "x", heap.asReadOnly(), 0, s));
    assertThrows(IllegalArgumentException.class, () -> Checks.disjoint("dResidual", heap, 20, "x", heap, 0, s));
    Checks.disjoint("dResidual", heap, 24, "x", heap, 0, s);
    Checks.disjoint("dResidual", heap, 0, "x", MemorySegment.ofArray(new float[20]), 0, s);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment nat = arena.allocate(100, 4);
      assertThrows(IllegalArgumentException.class, () -> Checks.disjoint("dResidual", nat.asSlice(8), 0, "y", nat, 28, s));
      Checks.disjoint("dResidual", nat.asSlice(8), 0, "y", nat, 32, s);
      Checks.noPartialOverlap("dx", nat.asSlice(8), 0, "y", nat, 8, s);
      assertThrows(IllegalArgumentException.class, () -> Checks.noPartialOverlap("dx", nat.asSlice(8), 0, "y", nat, 12, s));
    }
  }

  /** A segment of a confined arena owned by another thread is rejected before the statistics are written. */
  @Test
  void segmentOfAnotherThreadIsRejectedBeforeWriting() throws Exception {
    ExecutorService owner = Executors.newSingleThreadExecutor();
    try {
      Future<Arena> arenaF = owner.submit(Arena::ofConfined);
      Arena arena = arenaF.get(10, TimeUnit.SECONDS);
      MemorySegment foreign = owner.submit(() -> arena.allocate(48, 4)).get(10, TimeUnit.SECONDS);
      float[] xs = Reference.data(S, 0, 5);
      rejectsUntouched(IllegalArgumentException.class, names("y", "thread"),
          () -> BatchNorm.forwardTraining(S, MemorySegment.ofArray(xs), 0, gamma, beta, 1e-3f, foreign, 0, mean, var, inv),
          xs, mean, var, inv);
      rejectsUntouched(IllegalArgumentException.class, names("x", "thread"),
          () -> BatchNorm.backward(S, foreign, 0, MemorySegment.ofArray(xs), 0, gamma, new float[3], new float[3],
              MemorySegment.ofArray(xs), 0, mean, var), xs, mean, var);
      owner.submit(arena::close).get(10, TimeUnit.SECONDS);
    } finally {
      owner.shutdownNow();
    }
  }

  @Test
  void shapesWhoseSizeOverflowsAreRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new NormShape(Integer.MAX_VALUE, 1, (1 << 30) + 1));
    assertTrue(e.getMessage().contains("Long.MAX_VALUE bytes"), e.getMessage());
    new NormShape(Integer.MAX_VALUE, 1, 1 << 30); // 2^61 - 2^30 floats: fits, and so does its byte size
    e = assertThrows(IllegalArgumentException.class, () -> new BlockedShape(1, Integer.MAX_VALUE, 1, 2));
    assertTrue(e.getMessage().contains("Integer.MAX_VALUE floats"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new BlockedShape(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, 16));
    BlockedShape widest = new BlockedShape(1, Integer.MAX_VALUE - 1, 1, 1);
    org.junit.jupiter.api.Assertions.assertEquals(Integer.MAX_VALUE - 1, widest.size());
  }
}
