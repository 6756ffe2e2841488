package dev.vecnorm;

import static dev.vecnorm.NormTesting.assertClose;
import static dev.vecnorm.NormTesting.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.GroupNormSupport;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Channels-last GroupNorm with groups of whole vectors (32, 48, 64 and 80 channels per group: two to
 * ten vectors at 8 or 16 lanes, with and without a one-vector tail), the Panama kernel's per-group block
 * path: against {@link GroupNormTest#reference} in double (forward to 1e-4, statistics to 1e-5), data
 * far from 0 (variance to 1e-3), a group whose first element is an outlier (its one-read sums would
 * cancel: the two-pass redo), in place equal to out of place, and the size limit of that path.
 */
class GroupNormBlocksTest {

  /** {channels, groups, spatial}. */
  static final int[][] SHAPES = {{64, 2, 1}, {96, 2, 7}, {2048, 32, 49}, {192, 4, 5}, {160, 2, 3}, {256, 8, 17}};

  static Stream<Arguments> implsAndShapes() {
    return GroupNormTest.impls().stream().flatMap(k -> Stream.of(SHAPES).map(d -> Arguments.of(k.name(), k, GroupNormTest.shape(3, d, true))));
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndShapes")
  void forwardMatchesDoubleReference(String name, GroupNormSupport k, GroupShape s) {
    SplittableRandom rnd = new SplittableRandom(s.hashCode());
    int size = (int) s.size(), xOff = 7, yOff = 1, st = s.statistics();
    float[] x = random(rnd, xOff + size, -1, 2), y = new float[yOff + size + 1];
    float[] gamma = random(rnd, s.channels(), 1, 0.5), beta = random(rnd, s.channels(), 0, 1);
    float[][] variants = {gamma, beta, null, beta, gamma, null, null, null};
    for (int v = 0; v < variants.length; v += 2) {
      float[] g = variants[v], b = variants[v + 1], mean = new float[st], inv = new float[st];
      GroupNorm.forward(k, s, x, xOff, g, b, 1e-3f, y, yOff, mean, inv);
      double[] stats = new double[2 * st];
      double[] ref = GroupNormTest.reference(s, NormTesting.slice(x, xOff, size), NormTesting.toDouble(g), NormTesting.toDouble(b),
          1e-3f, stats);
      for (int i = 0; i < st; i++) {
        assertClose("mean[" + i + "]", stats[i], mean[i], 1e-5 * (1 + Math.abs(stats[i])));
        assertClose("invStd[" + i + "]", stats[st + i], inv[i], 1e-5 * stats[st + i]);
      }
      for (int i = 0; i < size; i++) assertClose("y[" + i + "]", ref[i], y[yOff + i], 1e-4 * (1 + Math.abs(ref[i])));
    }
    assertTrue(y[0] == 0 && y[y.length - 1] == 0, "nothing written outside y's range");
  }

  /**
   * 1e4 + N(0, 0.01), and the first element of every group 2 to 8 (times 100) standard deviations out:
   * mean and invStd to 1e-5, variance to 1e-3. Groups of 8192 floats (the block path's largest) and
   * 8256 (past it: the per-channel route).
   */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndLimits")
  void farFromZeroAndOutliersKeepStatisticsAccurate(String name, GroupNormSupport k, GroupShape s) {
    SplittableRandom rnd = new SplittableRandom(3);
    int size = (int) s.size(), st = s.statistics(), cpg = s.channelsPerGroup();
    float[] x = random(rnd, size, 1e4, 0.01), y = new float[size], mean = new float[st], inv = new float[st];
    for (int i = 0; i < st; i++) x[(i / s.groups()) * s.channels() * s.spatial() + (i % s.groups()) * cpg] = 1e4f + 2 * (i % 4 + 1);
    float eps = 1e-12f;
    GroupNorm.forward(k, s, x, 0, null, null, eps, y, 0, mean, inv);
    double[] stats = new double[2 * st];
    GroupNormTest.reference(s, NormTesting.slice(x, 0, size), null, null, eps, stats);
    for (int i = 0; i < st; i++) {
      assertClose("mean[" + i + "]", stats[i], mean[i], 1e-5 * (1 + Math.abs(stats[i])));
      assertClose("invStd[" + i + "]", stats[st + i], inv[i], 1e-5 * stats[st + i]);
      double refVar = 1 / (stats[st + i] * stats[st + i]) - eps, var = 1 / ((double) inv[i] * inv[i]) - eps;
      assertClose("variance[" + i + "]", refVar, var, 1e-3 * refVar);
    }
  }

  static Stream<Arguments> implsAndLimits() {
    return GroupNormTest.impls().stream().flatMap(k -> Stream.of(GroupShape.nhwc(2, 128, 128, 2), GroupShape.nhwc(2, 129, 128, 2))
        .map(s -> Arguments.of(k.name(), k, s)));
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndShapes")
  void inPlaceEqualsOutOfPlace(String name, GroupNormSupport k, GroupShape s) {
    SplittableRandom rnd = new SplittableRandom(9);
    int size = (int) s.size(), st = s.statistics(), off = 2;
    float[] x = random(rnd, off + size, 3, 2), gamma = random(rnd, s.channels(), 1, 0.5), beta = random(rnd, s.channels(), 0, 1);
    float[] y = x.clone(), m1 = new float[st], i1 = new float[st], m2 = new float[st], i2 = new float[st];
    GroupNorm.forward(k, s, x, off, gamma, beta, 1e-3f, y, off, m1, i1);
    GroupNorm.forward(k, s, x, off, gamma, beta, 1e-3f, x, off, m2, i2);
    assertArrayEquals(y, x);
    assertArrayEquals(m1, m2);
    assertArrayEquals(i1, i2);
  }
}
