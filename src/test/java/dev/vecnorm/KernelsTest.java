package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every operation, both implementations, against the double-precision {@link Reference}, over awkward
 * shapes, at non-zero offsets, in place, and on native segments.
 *
 * <p>Tolerances (float32 kernels vs double reference): mean within 2e-5 * (|mean| + std); variance within
 * 2e-4 relative (absolute 1e-6 at variance 0); y, dx, dGamma, dBeta within 2e-4 of the magnitude of
 * the terms they are computed from (so cancellation is not held against the kernel).
 */
class KernelsTest {

  static final float EPS = 1e-3f;
  static final int PAD = 5;

  static Stream<Arguments> cases() {
    List<NormShape> shapes = new ArrayList<>();
    for (int channels : new int[] {1, 3, 15, 16, 17, 64, 1000, 4099}) {
      for (int rows : new int[] {1, 2, 7, 1023}) shapes.add(NormShape.channelsLast(rows, channels));
    }
    for (int channels : new int[] {1, 3, 16, 17, 64}) {
      for (int batch : new int[] {1, 2, 7}) {
        for (int inner : new int[] {1, 7, 49, 3136}) {
          NormShape s = NormShape.channelsFirst(batch, channels, inner);
          if (s.size() <= 1_500_000) shapes.add(s);
        }
      }
    }
    List<Arguments> out = new ArrayList<>();
    for (Kernels k : Implementations.all()) for (NormShape s : shapes) out.add(Arguments.of(k.impl().name(), k, s));
    return out.stream();
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("cases")
  void forwardTrainingMatchesReference(String name, Kernels k, NormShape s) {
    long seed = s.hashCode();
    float[] x = Reference.data(s, PAD, seed);
    int C = s.channels(), size = (int) s.size();
    float[] gamma = Reference.perChannel(C, 1, 0.5, seed + 1), beta = Reference.perChannel(C, 0, 1, seed + 2);
    float[] y = new float[size + 3], mean = new float[C], var = new float[C], inv = new float[C];
    k.forwardTraining(s, x, PAD, gamma, beta, EPS, y, 3, mean, var, inv);

    double[][] ref = Reference.moments(s, x, PAD);
    for (int c = 0; c < C; c++) {
      double std = Math.sqrt(ref[1][c]);
      assertClose("mean[" + c + "]", ref[0][c], mean[c], 2e-5 * (Math.abs(ref[0][c]) + std) + 1e-7);
      assertClose("variance[" + c + "]", ref[1][c], var[c], 2e-4 * ref[1][c] + 1e-6);
      assertClose("invStd[" + c + "]", 1 / Math.sqrt(ref[1][c] + EPS), inv[c], 2e-4 / Math.sqrt(ref[1][c] + EPS));
    }
    double[] yRef = Reference.normalize(s, x, PAD, ref[0], ref[1], EPS, gamma, beta);
    assertNormalized(s, x, PAD, ref, gamma, beta, yRef, y, 3);

    // In place: same memory and offset for x and y gives the same bits as out of place.
    float[] inPlace = x.clone();
    float[] m2 = new float[C], v2 = new float[C], i2 = new float[C];
    k.forwardTraining(s, inPlace, PAD, gamma, beta, EPS, inPlace, PAD, m2, v2, i2);
    assertArrayEquals(java.util.Arrays.copyOfRange(y, 3, 3 + size), java.util.Arrays.copyOfRange(inPlace, PAD, PAD + size));
    assertArrayEquals(mean, m2);

    // Native segments at byte offsets are staged through arrays: chunk statistics merge in a different
    // order than the array path's blocks, so they agree to float rounding, not to the bit.
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = copyToNative(arena, x), ys = arena.allocate(4L * size + 12, 4);
      float[] m3 = new float[C], v3 = new float[C], i3 = new float[C];
      k.forwardTraining(s, xs, PAD * 4L, gamma, beta, EPS, ys, 12, m3, v3, i3);
      assertNear(mean, m3, 1e-5);
      assertNear(var, v3, 1e-5);
      assertNear(java.util.Arrays.copyOfRange(y, 3, 3 + size), ys.asSlice(12).toArray(ValueLayout.JAVA_FLOAT), 1e-4);
    }
    // A float[]-backed heap segment runs on the array directly; a byte[]-backed one is staged.
    float[] heapY = new float[size + 3];
    k.forwardTraining(s, MemorySegment.ofArray(x), PAD * 4L, gamma, beta, EPS, MemorySegment.ofArray(heapY), 12, m2, v2, i2);
    assertArrayEquals(y, heapY);
    MemorySegment bytes = MemorySegment.ofArray(new byte[4 * size + 8]);
    MemorySegment.copy(MemorySegment.ofArray(x), PAD * 4L, bytes, 8, 4L * size);
    k.forwardTraining(s, bytes, 8, gamma, beta, EPS, bytes, 8, m2, v2, i2);
    assertNear(java.util.Arrays.copyOfRange(y, 3, 3 + size), bytes.asSlice(8).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED), 1e-4);
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("cases")
  void forwardInferenceMatchesReference(String name, Kernels k, NormShape s) {
    long seed = s.hashCode() * 31L;
    float[] x = Reference.data(s, PAD, seed);
    int C = s.channels(), size = (int) s.size();
    float[] movingMean = Reference.perChannel(C, 0.5, 1, seed + 3);
    float[] movingVar = Reference.perChannel(C, 2, 0.5, seed + 4);
    for (int c = 0; c < C; c++) movingVar[c] = Math.abs(movingVar[c]);
    float[] gamma = Reference.perChannel(C, 1, 0.5, seed + 1);
    float[] y = new float[size + 1];
    k.forwardInference(s, x, PAD, gamma, null, movingMean, movingVar, EPS, y, 1);
    double[][] stats = {toDouble(movingMean), toDouble(movingVar)};
    double[] yRef = Reference.normalize(s, x, PAD, stats[0], stats[1], EPS, gamma, null);
    assertNormalized(s, x, PAD, stats, gamma, null, yRef, y, 1);

    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = copyToNative(arena, x);
      k.forwardInference(s, xs, PAD * 4L, gamma, null, movingMean, movingVar, EPS, xs, PAD * 4L); // in place
      assertArrayEquals(java.util.Arrays.copyOfRange(y, 1, 1 + size), xs.asSlice(PAD * 4L, 4L * size).toArray(ValueLayout.JAVA_FLOAT));
    }
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("cases")
  void backwardMatchesReference(String name, Kernels k, NormShape s) {
    long seed = s.hashCode() * 17L;
    float[] x = Reference.data(s, PAD, seed);
    float[] dy = Reference.data(s, 2, seed + 9);
    int C = s.channels(), size = (int) s.size();
    float[] gamma = Reference.perChannel(C, 1, 0.5, seed + 1);
    float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[size];
    k.forwardTraining(s, x, PAD, gamma, null, EPS, y, 0, mean, var, inv);
    float[] dx = new float[size + 4], dGamma = new float[C], dBeta = new float[C];
    k.backward(s, x, PAD, dy, 2, gamma, mean, inv, dx, 4, dGamma, dBeta);

    double[][] ref = Reference.backward(s, x, PAD, dy, 2, gamma, EPS);
    double[][] st = Reference.moments(s, x, PAD);
    double n = s.countPerChannel();
    for (int c = 0; c < C; c++) {
      double invStd = 1 / Math.sqrt(st[1][c] + EPS), absDy = 0, absDyXhat = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int idx = Reference.index(s, o, c, i);
          absDy += Math.abs(dy[2 + idx]);
          absDyXhat += Math.abs(dy[2 + idx] * (x[PAD + idx] - st[0][c]) * invStd);
        }
      }
      assertClose("dBeta[" + c + "]", ref[2][c], dBeta[c], 2e-4 * absDy + 1e-6);
      assertClose("dGamma[" + c + "]", ref[1][c], dGamma[c], 2e-4 * absDyXhat + 1e-6);
      double a = Math.abs(gamma[c] * invStd);
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int idx = Reference.index(s, o, c, i);
          double xhat = Math.abs((x[PAD + idx] - st[0][c]) * invStd);
          double scale = a * (Math.abs(dy[2 + idx]) + absDy / n + xhat * absDyXhat / n);
          assertClose("dx at " + idx, ref[0][idx], dx[4 + idx], 2e-4 * scale + 1e-6);
        }
      }
    }

    // dx may be dy: in place gives the same bits; null dGamma/dBeta are allowed.
    float[] inPlace = dy.clone();
    k.backward(s, x, PAD, inPlace, 2, gamma, mean, inv, inPlace, 2, null, null);
    assertArrayEquals(java.util.Arrays.copyOfRange(dx, 4, 4 + size), java.util.Arrays.copyOfRange(inPlace, 2, 2 + size));

    // The split phases (as used by synchronized batch norm) on one replica equal backward().
    float[] sumDy = new float[C], sumDyXhat = new float[C], dx2 = new float[size];
    k.backwardReduce(s, x, PAD, dy, 2, mean, inv, sumDy, sumDyXhat);
    assertArrayEquals(dBeta, sumDy);
    assertArrayEquals(dGamma, sumDyXhat);
    k.backwardApply(s, x, PAD, dy, 2, gamma, mean, inv, sumDy, sumDyXhat, s.countPerChannel(), dx2, 0);
    assertArrayEquals(java.util.Arrays.copyOfRange(dx, 4, 4 + size), dx2);
  }

  static void assertNormalized(NormShape s, float[] x, int xOff, double[][] stats, float[] gamma, float[] beta,
                               double[] yRef, float[] y, int yOff) {
    for (int o = 0; o < s.outer(); o++) {
      for (int c = 0; c < s.channels(); c++) {
        double a = Math.abs((gamma == null ? 1 : gamma[c]) / Math.sqrt(stats[1][c] + EPS));
        for (int i = 0; i < s.inner(); i++) {
          int idx = Reference.index(s, o, c, i);
          double scale = a * (Math.abs(x[xOff + idx]) + Math.abs(stats[0][c])) * 1e-2 + Math.abs(yRef[idx]);
          assertClose("y at " + idx, yRef[idx], y[yOff + idx], 2e-4 * scale + 1e-6);
        }
      }
    }
  }

  /** Element-wise |a - b| <= rel * (1 + |a|): for paths that sum in a different order. */
  static void assertNear(float[] expected, float[] actual, double rel) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      assertClose("element " + i, expected[i], actual[i], rel * (1 + Math.abs(expected[i])));
    }
  }

  static void assertClose(String what, double expected, double actual, double tolerance) {
    if (!(Math.abs(expected - actual) <= tolerance)) {
      fail(what + ": expected " + expected + " +- " + tolerance + ", got " + actual + " (error " + Math.abs(expected - actual) + ")");
    }
  }

  static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) d[i] = a[i];
    return d;
  }

  static MemorySegment copyToNative(Arena arena, float[] a) {
    MemorySegment s = arena.allocate(4L * a.length, 4);
    MemorySegment.copy(MemorySegment.ofArray(a), 0, s, 0, 4L * a.length);
    return s;
  }

  @org.junit.jupiter.api.Test
  void shapesCoverBothImplementations() {
    assertTrue(Implementations.all().size() >= 1);
    assertEquals("scalar", Implementations.all().get(0).impl().name());
  }
}
