package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
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
}
