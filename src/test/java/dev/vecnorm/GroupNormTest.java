package dev.vecnorm;

import static dev.vecnorm.NormTesting.assertClose;
import static dev.vecnorm.NormTesting.assertGradient;
import static dev.vecnorm.NormTesting.assertRejectedBeforeWriting;
import static dev.vecnorm.NormTesting.centralDifferences;
import static dev.vecnorm.NormTesting.normalized;
import static dev.vecnorm.NormTesting.random;
import static dev.vecnorm.NormTesting.read;
import static dev.vecnorm.NormTesting.segment;
import static dev.vecnorm.NormTesting.slice;
import static dev.vecnorm.NormTesting.toDouble;
import static dev.vecnorm.NormTesting.weightedSum;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.NormTesting.BadCall;
import dev.vecnorm.internal.GroupNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * GroupNorm (and InstanceNorm, groups == channels), both implementations and both layouts, against a
 * double-precision reference written here from the definition: forward to 1e-4 (abs + rel) and
 * statistics to 1e-5, backward against central finite differences of the double reference, segments
 * equal to arrays, in place equal to out of place, bad arguments leave every output untouched.
 */
class GroupNormTest {

  /**
   * {channels, groups, spatial}: channels per group 1, lanes ± 1 for 8 and 16 lanes (7, 9, 15, 17), a
   * lane multiple, ragged channel counts (17, 1023), a wide row tiled as one super row (256), and spatial
   * extents (1, 15, 17, 49, 1023).
   */
  static final int[][] SHAPES = {
      {1, 1, 1}, {1, 1, 17}, {7, 1, 9}, {9, 3, 8}, {15, 1, 16}, {16, 4, 7}, {17, 17, 15}, {32, 32, 17}, {34, 2, 5},
      {64, 32, 49}, {48, 3, 33}, {1023, 31, 3}, {6, 2, 1023}, {64, 4, 1}, {256, 32, 3}};

  static List<GroupNormSupport> impls() {
    return NormTesting.implementations(VectorizationProvider.scalarGroupNorm(), VectorizationProvider.panamaGroupNorm());
  }

  static Stream<Arguments> implsLayoutsShapes() {
    return impls().stream().flatMap(k -> Stream.of(true, false).flatMap(last -> Stream.of(SHAPES)
        .map(d -> Arguments.of(k.name(), k, last ? "NHWC" : "NCHW", shape(2, d, last)))));
  }

  static Stream<Arguments> implsAndLayouts() {
    return impls().stream().flatMap(k -> Stream.of(true, false).map(last -> Arguments.of(k.name(), k, last ? "NHWC" : "NCHW", last)));
  }

  static Stream<Arguments> implementations() {
    return impls().stream().map(k -> Arguments.of(k.name(), k));
  }

  static GroupShape shape(int batch, int[] d, boolean channelsLast) {
    return channelsLast ? GroupShape.nhwc(batch, d[2], d[0], d[1]) : GroupShape.nchw(batch, d[0], d[2], d[1]);
  }

  // ---------------------------------------------------------------- double reference

  static int index(GroupShape s, int n, int c, int p) {
    return s.channelsLast() ? (n * s.spatial() + p) * s.channels() + c : (n * s.channels() + c) * s.spatial() + p;
  }

  /** y (same layout as x, no offset) and, in stats, [mean | invStd] per (n, g), all in double from the definition. */
  static double[] reference(GroupShape s, double[] x, double[] gamma, double[] beta, double eps, double[] stats) {
    int cpg = s.channelsPerGroup(), k = s.statistics();
    double[] y = new double[x.length], group = new double[cpg * s.spatial()], stat = new double[2];
    for (int n = 0; n < s.batch(); n++) {
      for (int g = 0; g < s.groups(); g++) {
        for (int c = 0; c < cpg; c++) for (int p = 0; p < s.spatial(); p++) group[c * s.spatial() + p] = x[index(s, n, g * cpg + c, p)];
        double[] xhat = normalized(group, eps, false, stat);
        if (stats != null) {
          stats[n * s.groups() + g] = stat[0];
          stats[k + n * s.groups() + g] = stat[1];
        }
        for (int c = g * cpg; c < (g + 1) * cpg; c++) {
          for (int p = 0; p < s.spatial(); p++) {
            y[index(s, n, c, p)] = xhat[(c - g * cpg) * s.spatial() + p] * (gamma == null ? 1 : gamma[c]) + (beta == null ? 0 : beta[c]);
          }
        }
      }
    }
    return y;
  }

  // ---------------------------------------------------------------- forward

  @ParameterizedTest(name = "{0} {2} {3}")
  @MethodSource("implsLayoutsShapes")
  void forwardMatchesDoubleReference(String name, GroupNormSupport k, String layout, GroupShape s) {
    SplittableRandom rnd = new SplittableRandom(s.hashCode());
    int size = (int) s.size(), xOff = 3, yOff = 5, st = s.statistics();
    float[] x = random(rnd, xOff + size, 2, 3), y = new float[yOff + size + 2];
    float[] gamma = random(rnd, s.channels(), 1, 0.5), beta = random(rnd, s.channels(), 0, 1);
    float[][] variants = {gamma, beta, null, beta, gamma, null, null, null};
    for (int v = 0; v < variants.length; v += 2) {
      float[] g = variants[v], b = variants[v + 1], mean = new float[st], inv = new float[st];
      GroupNorm.forward(k, s, x, xOff, g, b, 1e-3f, y, yOff, mean, inv);
      double[] stats = new double[2 * st];
      double[] ref = reference(s, slice(x, xOff, size), toDouble(g), toDouble(b), 1e-3f, stats);
      for (int i = 0; i < st; i++) {
        assertClose("mean[" + i + "]", stats[i], mean[i], 1e-5 * (1 + Math.abs(stats[i])));
        assertClose("invStd[" + i + "]", stats[st + i], inv[i], 1e-5 * stats[st + i]);
      }
      for (int i = 0; i < size; i++) assertClose("y[" + i + "]", ref[i], y[yOff + i], 1e-4 * (1 + Math.abs(ref[i])));
    }
    assertTrue(y[0] == 0 && y[yOff - 1] == 0 && y[y.length - 1] == 0 && y[y.length - 2] == 0, "nothing written outside y's range");
  }

  /**
   * 1e4 + N(0, 0.01): float E[x²] - E[x]² would give noise (1e8 against 1e-4). Groups of 8192 (NHWC: 8
   * channels x 1024 positions) and 65536 floats (NCHW: several cache blocks) keep the variance to 1e-3.
   */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndLayouts")
  void largeOffsetGroupsKeepVarianceAccurate(String name, GroupNormSupport k, String layout, boolean last) {
    SplittableRandom rnd = new SplittableRandom(7);
    GroupShape s = last ? GroupShape.nhwc(2, 1024, 32, 4) : GroupShape.nchw(2, 16, 4096, 1);
    int size = (int) s.size(), st = s.statistics();
    float[] x = random(rnd, size, 1e4, 0.01), y = new float[size], mean = new float[st], inv = new float[st];
    float eps = 1e-12f;
    GroupNorm.forward(k, s, x, 0, null, null, eps, y, 0, mean, inv);
    double[] stats = new double[2 * st];
    reference(s, slice(x, 0, size), null, null, eps, stats);
    for (int i = 0; i < st; i++) {
      double refVar = 1 / (stats[st + i] * stats[st + i]) - eps, var = 1 / ((double) inv[i] * inv[i]) - eps;
      assertClose("variance[" + i + "]", refVar, var, 1e-3 * refVar);
      assertClose("mean[" + i + "]", stats[i], mean[i], 1e-7 * stats[i]);
    }
    float[] inPlace = x.clone(), gamma = random(rnd, s.channels(), 1, 1), beta = random(rnd, s.channels(), 0, 1);
    GroupNorm.forward(k, s, x, 0, gamma, beta, eps, y, 0, null, null);
    GroupNorm.forward(k, s, inPlace, 0, gamma, beta, eps, inPlace, 0, null, null);
    assertArrayEquals(y, inPlace, "in place");
  }

  /** InstanceNorm is groups == channels: per sample and channel over the positions. */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndLayouts")
  void instanceNormNormalizesEachChannelOfEachSample(String name, GroupNormSupport k, String layout, boolean last) {
    int batch = 3, channels = 5, spatial = 40;
    GroupShape s = last ? GroupShape.instanceNhwc(batch, spatial, channels) : GroupShape.instanceNchw(batch, channels, spatial);
    assertEquals(channels, s.groups());
    SplittableRandom rnd = new SplittableRandom(13);
    float[] x = random(rnd, (int) s.size(), -3, 2), y = new float[x.length];
    GroupNorm.forward(k, s, x, 0, null, null, 1e-5f, y, 0, null, null);
    for (int n = 0; n < batch; n++) {
      for (int c = 0; c < channels; c++) {
        double sum = 0, sq = 0;
        for (int p = 0; p < spatial; p++) sum += y[index(s, n, c, p)];
        for (int p = 0; p < spatial; p++) sq += y[index(s, n, c, p)] * (double) y[index(s, n, c, p)];
        assertClose("mean of y (n=" + n + ", c=" + c + ")", 0, sum / spatial, 1e-5);
        double varX = 0, mx = 0;
        for (int p = 0; p < spatial; p++) mx += x[index(s, n, c, p)] / (double) spatial;
        for (int p = 0; p < spatial; p++) varX += Math.pow(x[index(s, n, c, p)] - mx, 2) / spatial;
        assertClose("variance of y (n=" + n + ", c=" + c + ")", varX / (varX + 1e-5f), sq / spatial, 1e-4);
      }
    }
  }

  /** groups == 1 without gamma and beta is LayerNorm over each sample's C*H*W floats, in either layout. */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndLayouts")
  void oneGroupEqualsLayerNormOverTheSample(String name, GroupNormSupport k, String layout, boolean last) {
    GroupShape s = last ? GroupShape.nhwc(3, 50, 12, 1) : GroupShape.nchw(3, 12, 50, 1);
    float[] x = random(new SplittableRandom(17), (int) s.size(), 3, 2), y = new float[x.length], ln = new float[x.length];
    float[] mean = new float[3], inv = new float[3], lnMean = new float[3], lnInv = new float[3];
    GroupNorm.forward(k, s, x, 0, null, null, 1e-3f, y, 0, mean, inv);
    LayerNorm.forward(3, 600, x, 0, null, null, 1e-3f, ln, 0, lnMean, lnInv);
    for (int n = 0; n < 3; n++) {
      assertClose("mean[" + n + "]", lnMean[n], mean[n], 1e-6 * (1 + Math.abs(lnMean[n])));
      assertClose("invStd[" + n + "]", lnInv[n], inv[n], 1e-6 * lnInv[n]);
    }
    for (int i = 0; i < x.length; i++) assertClose("y[" + i + "]", ln[i], y[i], 1e-5 * (1 + Math.abs(ln[i])));
  }

  /** A constant group has variance 0 and gives exactly beta; other groups are unaffected. */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndLayouts")
  void constantGroupGivesBeta(String name, GroupNormSupport k, String layout, boolean last) {
    GroupShape s = last ? GroupShape.nhwc(2, 33, 12, 3) : GroupShape.nchw(2, 12, 33, 3);
    SplittableRandom rnd = new SplittableRandom(5);
    float[] x = random(rnd, (int) s.size(), 0, 1), gamma = random(rnd, 12, 1, 1), beta = random(rnd, 12, 0, 1), y = new float[x.length];
    for (int c = 4; c < 8; c++) for (int p = 0; p < 33; p++) x[index(s, 1, c, p)] = 1234.5f; // sample 1, group 1
    float[] mean = new float[6], inv = new float[6];
    GroupNorm.forward(k, s, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv);
    assertTrue(mean[4] == 1234.5f && inv[4] == (float) (1 / Math.sqrt(1e-3f)), "constant group statistics " + mean[4] + ", " + inv[4]);
    for (int c = 4; c < 8; c++) for (int p = 0; p < 33; p++) assertTrue(y[index(s, 1, c, p)] == beta[c], "y = beta at c=" + c + ", p=" + p);
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndLayouts")
  void inPlaceEqualsOutOfPlace(String name, GroupNormSupport k, String layout, boolean last) {
    for (int[] d : new int[][] {{17, 17, 15}, {64, 32, 49}, {6, 2, 1023}}) {
      GroupShape s = shape(3, d, last);
      SplittableRandom rnd = new SplittableRandom(3);
      int size = (int) s.size(), st = s.statistics();
      float[] x = random(rnd, size, 1, 2), gamma = random(rnd, s.channels(), 1, 1), beta = random(rnd, s.channels(), 0, 1);
      float[] y = new float[size], mean = new float[st], inv = new float[st], inPlace = x.clone();
      GroupNorm.forward(k, s, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv);
      GroupNorm.forward(k, s, inPlace, 0, gamma, beta, 1e-3f, inPlace, 0, null, null);
      assertArrayEquals(y, inPlace, "y == x " + s);
      float[] dy = random(rnd, size, 0, 1), dx = new float[size], dGamma = new float[s.channels()], dBeta = new float[s.channels()];
      GroupNorm.backward(k, s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
      float[] dyInPlace = dy.clone(), xInPlace = x.clone(), dG2 = new float[s.channels()], dB2 = new float[s.channels()];
      GroupNorm.backward(k, s, x, 0, dyInPlace, 0, gamma, mean, inv, dyInPlace, 0, dG2, dB2);
      assertArrayEquals(dx, dyInPlace, "dx == dy " + s);
      assertArrayEquals(dGamma, dG2, "dGamma with dx == dy " + s);
      assertArrayEquals(dBeta, dB2, "dBeta with dx == dy " + s);
      GroupNorm.backward(k, s, xInPlace, 0, dy, 0, gamma, mean, inv, xInPlace, 0, null, null);
      assertArrayEquals(dx, xInPlace, "dx == x " + s);
    }
  }

  // ---------------------------------------------------------------- backward against finite differences

  static Stream<Arguments> implsLayoutsSmallShapes() {
    // NCHW planes of 16, 33 and 40 positions: the Panama backward's group-at-a-time path (planes of a vector or more
    // at 8 and 16 lanes) with no ragged end, with the pair loop and a ragged end, and one vector plus a ragged end.
    int[][] small = {{4, 2, 5}, {17, 17, 3}, {16, 4, 9}, {6, 3, 17}, {9, 1, 4}, {4, 2, 16}, {6, 2, 33}, {4, 4, 40}};
    return impls().stream().flatMap(k -> Stream.of(true, false).flatMap(last -> Stream.of(small)
        .map(d -> Arguments.of(k.name(), k, last ? "NHWC" : "NCHW", shape(2, d, last)))));
  }

  /** L = Σ w·y, in double from the reference forward. */
  static double loss(GroupShape s, double[] x, double[] gamma, double[] beta, double eps, double[] w) {
    return weightedSum(w, reference(s, x, gamma, beta, eps, null));
  }

  /**
   * Central differences (h = 1e-5 on data of scale 1, in double: error ~1e-10) of the double reference at
   * the same float inputs; float gradients must match to 1e-3 of the largest gradient magnitude (float
   * rounding of sums over at most a few hundred terms is ~1e-5 of it), with a floor of 1e-3 of the terms
   * dx is made of, where it cancels to ~0 (one element per group).
   */
  @ParameterizedTest(name = "{0} {2} {3}")
  @MethodSource("implsLayoutsSmallShapes")
  void backwardMatchesFiniteDifferences(String name, GroupNormSupport k, String layout, GroupShape s) {
    SplittableRandom rnd = new SplittableRandom(s.hashCode() * 31L);
    int size = (int) s.size(), st = s.statistics(), xOff = 2, dyOff = 1, dxOff = 4;
    float eps = 1e-3f;
    float[] x = random(rnd, xOff + size, 0.5, 1), dy = random(rnd, dyOff + size, 0, 1);
    float[] gamma = random(rnd, s.channels(), 1, 0.5), beta = random(rnd, s.channels(), 0, 1);
    float[] mean = new float[st], inv = new float[st], y = new float[size], dx = new float[dxOff + size];
    float[] dGamma = new float[s.channels()], dBeta = new float[s.channels()];
    java.util.Arrays.fill(dGamma, 99f); // overwritten, not accumulated into
    java.util.Arrays.fill(dBeta, 99f);
    GroupNorm.forward(k, s, x, xOff, gamma, beta, eps, y, 0, mean, inv);
    GroupNorm.backward(k, s, x, xOff, dy, dyOff, gamma, mean, inv, dx, dxOff, dGamma, dBeta);
    double[] xs = slice(x, xOff, size), w = slice(dy, dyOff, size), g = toDouble(gamma), b = toDouble(beta);
    double h = 1e-5, termScale = 0;
    for (int n = 0; n < s.batch(); n++) {
      for (int c = 0; c < s.channels(); c++) {
        for (int p = 0; p < s.spatial(); p++) {
          termScale = Math.max(termScale, Math.abs(w[index(s, n, c, p)] * gamma[c]) * inv[n * s.groups() + c / s.channelsPerGroup()]);
        }
      }
    }
    DoubleSupplier l = () -> loss(s, xs, g, b, eps, w);
    assertGradient("dx", centralDifferences(xs, null, h, l), dx, dxOff, null, 1e-3, 1e-3 * termScale);
    assertGradient("dGamma", centralDifferences(g, null, h, l), dGamma, 0, null, 1e-3, 1e-12);
    assertGradient("dBeta", centralDifferences(b, null, h, l), dBeta, 0, null, 1e-3, 1e-12);
  }

  /**
   * Channels-first backward with many channels (2048: the Panama kernel's per-channel accumulator vectors span 256 KiB
   * at 16 lanes), planes of 49 (ragged), 16 (one vector) and 25 floats, 32 groups, InstanceNorm and 8 groups, the
   * straight-line short planes ({@code PanamaGroupNormSupport.shortPlane}: 49, 50, 63, 64 floats at 16 lanes, 25,
   * 32 at 8; 33 just outside either) with 1, 3, 8, 32 and C groups, against
   * the backward's formulas in double from the same float inputs and the forward's statistics:
   * {@code dBeta = Σ dy}, {@code dGamma = Σ dy*(x - mean)*invStd}, {@code dx = invStd*(g - mean(g) - xhat*mean(g*xhat))},
   * {@code g = gamma*dy}; within 1e-4 of the largest magnitude of each (group sums of up to 6400 terms in float).
   * Finite differences (above) would cost O(size^2) here.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void wideChannelsFirstBackwardMatchesDoubleFormulas(String name, GroupNormSupport k) {
    for (GroupShape s : new GroupShape[] {GroupShape.nchw(2, 2048, 49, 32), GroupShape.nchw(3, 2048, 16, 2048), GroupShape.nchw(2, 2048, 25, 8),
        // short planes (more than three vectors, at most four: 49..64 floats at 16 lanes, 25..32 at 8) at both ends
        // of the range, groups 1, 8, 32 and C, an odd group size
        GroupShape.nchw(2, 256, 64, 32), GroupShape.nchw(2, 256, 50, 8), GroupShape.nchw(3, 64, 63, 64), GroupShape.nchw(2, 96, 32, 1),
        GroupShape.nchw(2, 96, 33, 32), GroupShape.nchw(3, 45, 49, 3)}) {
      checkBackwardAgainstDoubleFormulas(k, s);
    }
  }

  /**
   * Channels-first backward on the planes of common convolution maps (1x1, 3x3, 5x5, 7x7, 14x14, 28x28: batch
   * norm's reduce below a vector, the group loop, the short planes at 7x7 with 16 lanes) with 1, 8, 32 and C groups
   * of 64 channels, against the same double formulas as {@link #wideChannelsFirstBackwardMatchesDoubleFormulas}.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void convolutionPlanesAndGroupCountsBackwardMatchDoubleFormulas(String name, GroupNormSupport k) {
    for (int hw : new int[] {1, 9, 25, 49, 196, 784}) {
      for (int groups : new int[] {1, 8, 32, 64}) {
        // Not a group of one element (1x1, InstanceNorm): its dx is 0 in exact arithmetic and rounding noise in
        // float, so "within 1e-4 of the largest magnitude" (0) has no tolerance.
        if (hw * (64 / groups) > 1) checkBackwardAgainstDoubleFormulas(k, GroupShape.nchw(2, 64, hw, groups));
      }
    }
  }

  /**
   * Channels-last backward of samples of 128 Ki floats and more (batch norm's apply from a line boundary on, the floats
   * before it one at a time, its pattern starting at the channel there) and of smaller samples of a tensor that size
   * (the reduce's line-aligned walk), at element offsets that move the line boundary (so the pattern's first channel)
   * within the sample: coefficients in registers (32 channels: four-vector steps; 48: three at 16 lanes), and from
   * the tiled pattern (96, 256), against the double formulas; a native segment at the same offset gives the same bits.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void channelsLastSamplesFromALineMatchDoubleFormulas(String name, GroupNormSupport k) {
    for (GroupShape s : new GroupShape[] {GroupShape.nhwc(2, 4096, 32, 8), GroupShape.nhwc(2, 2731, 48, 8), GroupShape.nhwc(2, 1366, 96, 32),
        GroupShape.nhwc(2, 520, 256, 32), GroupShape.nhwc(8, 1000, 64, 32), GroupShape.nhwc(4, 700, 48, 16)}) {
      for (int off : new int[] {0, 3, 9}) checkBackwardAgainstDoubleFormulas(k, s, off);
    }
  }

  /** {@code dx}, {@code dGamma}, {@code dBeta} of the backward on {@code s} within 1e-4 of the largest magnitude of each, against the formulas in double. */
  private static void checkBackwardAgainstDoubleFormulas(GroupNormSupport k, GroupShape s) {
    checkBackwardAgainstDoubleFormulas(k, s, 0);
  }

  /**
   * As {@link #checkBackwardAgainstDoubleFormulas(GroupNormSupport, GroupShape)} with x, dy and dx at element {@code off}
   * of their arrays; for {@code off > 0} also the same call on native segments at that offset, bit for bit.
   */
  private static void checkBackwardAgainstDoubleFormulas(GroupNormSupport k, GroupShape s, int off) {
    SplittableRandom rnd = new SplittableRandom(s.hashCode());
    int size = (int) s.size(), st = s.statistics(), c = s.channels(), cpg = s.channelsPerGroup(), hw = s.spatial();
    float[] x0 = random(rnd, size, 0.5, 1), dy0 = random(rnd, size, 0, 1), gamma = random(rnd, c, 1, 0.5), beta = random(rnd, c, 0, 1);
    float[] x = new float[size + off], dy = new float[size + off];
    System.arraycopy(x0, 0, x, off, size);
    System.arraycopy(dy0, 0, dy, off, size);
    float[] mean = new float[st], inv = new float[st], y = new float[size], dx = new float[size + off], dG = new float[c], dB = new float[c];
    GroupNorm.forward(k, s, x, off, gamma, beta, 1e-3f, y, 0, mean, inv);
    GroupNorm.backward(k, s, x, off, dy, off, gamma, mean, inv, dx, off, dG, dB);
    if (off > 0) {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment xs = arena.allocate(4L * (size + off), 64), gs = arena.allocate(4L * (size + off), 64);
        MemorySegment ds = arena.allocate(4L * (size + off), 64);
        MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, size + off);
        MemorySegment.copy(dy, 0, gs, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, size + off);
        float[] nG = new float[c], nB = new float[c];
        GroupNorm.backward(k, s, xs, 4L * off, gs, 4L * off, gamma, mean, inv, ds, 4L * off, nG, nB);
        float[] nDx = new float[size];
        MemorySegment.copy(ds, ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * off, nDx, 0, size);
        assertArrayEquals(Arrays.copyOfRange(dx, off, off + size), nDx, "native dx " + s + " at " + off);
        assertArrayEquals(dG, nG, "native dGamma " + s);
        assertArrayEquals(dB, nB, "native dBeta " + s);
      }
    }
    x = x0;
    dy = dy0;
    if (off > 0) dx = Arrays.copyOfRange(dx, off, off + size);
    double[] eG = new double[c], eB = new double[c], eDx = new double[size];
    for (int n = 0; n < s.batch(); n++) {
      for (int g = 0; g < s.groups(); g++) {
        double m = mean[n * s.groups() + g], is = inv[n * s.groups() + g], sumG = 0, sumGX = 0, count = (double) cpg * hw;
        for (int ch = g * cpg; ch < (g + 1) * cpg; ch++) {
          for (int p = 0; p < hw; p++) {
            int i = index(s, n, ch, p);
            double xhat = (x[i] - m) * is, gg = (double) gamma[ch] * dy[i];
            eB[ch] += dy[i];
            eG[ch] += dy[i] * xhat;
            sumG += gg;
            sumGX += gg * xhat;
          }
        }
        for (int ch = g * cpg; ch < (g + 1) * cpg; ch++) {
          for (int p = 0; p < hw; p++) {
            int i = index(s, n, ch, p);
            double xhat = (x[i] - m) * is;
            eDx[i] = is * ((double) gamma[ch] * dy[i] - sumG / count - xhat * sumGX / count);
          }
        }
      }
    }
    assertGradient("dx " + s, eDx, dx, 0, null, 1e-4, 1e-12);
    assertGradient("dGamma " + s, eG, dG, 0, null, 1e-4, 1e-12);
    assertGradient("dBeta " + s, eB, dB, 0, null, 1e-4, 1e-12);
  }

  // ---------------------------------------------------------------- segments

  /**
   * Native segments (staged in blocks of whole samples: several blocks for small samples, one sample
   * per block when a sample exceeds the block) and float[]-backed ones give the array path's bits.
   */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("implsAndLayouts")
  void segmentsEqualArrays(String name, GroupNormSupport k, String layout, boolean last) {
    for (GroupShape s : new GroupShape[] {
        last ? GroupShape.nhwc(40, 100, 12, 3) : GroupShape.nchw(40, 12, 100, 3),
        last ? GroupShape.nhwc(3, 3000, 8, 2) : GroupShape.nchw(3, 8, 3000, 2)}) {
      SplittableRandom rnd = new SplittableRandom(11);
      int n = (int) s.size(), st = s.statistics(), c = s.channels();
      long off = 12; // bytes
      float[] x = random(rnd, n, 1, 2), dy = random(rnd, n, 0, 1), gamma = random(rnd, c, 1, 1), beta = random(rnd, c, 0, 1);
      float[] y = new float[n], mean = new float[st], inv = new float[st], dx = new float[n], dG = new float[c], dB = new float[c];
      GroupNorm.forward(k, s, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv);
      GroupNorm.backward(k, s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dG, dB);
      try (Arena arena = Arena.ofConfined()) {
        for (boolean heap : new boolean[] {false, true}) {
          MemorySegment xs = segment(arena, heap, x, off), gs = segment(arena, heap, dy, off), out = segment(arena, heap, new float[n], off);
          float[] m2 = new float[st], i2 = new float[st], g2 = new float[c], b2 = new float[c];
          GroupNorm.forward(k, s, xs, off, gamma, beta, 1e-3f, out, off, m2, i2);
          assertArrayEquals(y, read(out, off, n), "y heap=" + heap + " " + s);
          assertArrayEquals(mean, m2);
          assertArrayEquals(inv, i2);
          GroupNorm.backward(k, s, xs, off, gs, off, gamma, m2, i2, out, off, g2, b2);
          assertArrayEquals(dx, read(out, off, n), "dx heap=" + heap + " " + s);
          assertArrayEquals(dG, g2, "dGamma heap=" + heap);
          assertArrayEquals(dB, b2, "dBeta heap=" + heap);
          GroupNorm.forward(k, s, xs, off, gamma, beta, 1e-3f, xs, off, null, null); // in place, staged
          assertArrayEquals(y, read(xs, off, n), "in place heap=" + heap);
        }
      }
    }
  }

  // ---------------------------------------------------------------- shapes and bad arguments

  @Test
  void shapeRejectsGroupsThatDoNotDivideChannelsAndSizesBelowOne() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GroupShape.nhwc(2, 4, 6, 4));
    assertTrue(e.getMessage().contains("groups") && e.getMessage().contains("channels = 6"), e.getMessage());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> GroupShape.nchw(0, 4, 4, 1)).getMessage().contains("batch"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> GroupShape.nchw(1, 4, 0, 1)).getMessage().contains("spatial"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> GroupShape.nchw(1, 4, 4, 0)).getMessage().contains("groups"));
    GroupShape s = GroupShape.instanceNchw(2, 6, 10);
    assertEquals(new GroupShape(2, 6, 10, 6, false), s);
    assertEquals(1, s.channelsPerGroup());
    assertEquals(12, s.statistics());
    assertEquals(120L, s.size());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void badArgumentsThrowNamingTheArgumentAndWriteNothing(String name, GroupNormSupport k) {
    GroupShape s = GroupShape.nhwc(3, 4, 6, 2);
    int n = (int) s.size(), st = s.statistics(), c = s.channels();
    float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n];
    for (int i = 0; i < n; i++) x[i] = dy[i] = i;
    float[] gamma = new float[c], beta = new float[c], mean = new float[st], inv = new float[st];
    java.util.Arrays.fill(gamma, 1f);
    java.util.Arrays.fill(inv, 1f);
    float[] dG = new float[c], dB = new float[c], big = new float[2 * n];
    List<BadCall> cases = List.of(
        new BadCall("gamma", () -> GroupNorm.forward(k, s, x, 0, new float[4], beta, 1e-3f, y, 0, mean, inv)),
        new BadCall("beta", () -> GroupNorm.forward(k, s, x, 0, gamma, new float[7], 1e-3f, y, 0, mean, inv)),
        new BadCall("mean must have length batch*groups = 3*2 = 6", () -> GroupNorm.forward(k, s, x, 0, gamma, beta, 1e-3f, y, 0, new float[3], inv)),
        new BadCall("invStd", () -> GroupNorm.forward(k, s, x, 0, gamma, beta, 1e-3f, y, 0, mean, new float[7])),
        new BadCall("epsilon", () -> GroupNorm.forward(k, s, x, 0, gamma, beta, Float.NaN, y, 0, mean, inv)),
        new BadCall("y", () -> GroupNorm.forward(k, s, x, 0, gamma, beta, 1e-3f, y, 1, mean, inv)),
        new BadCall("xOffset", () -> GroupNorm.forward(k, s, x, -1, gamma, beta, 1e-3f, y, 0, mean, inv)),
        new BadCall("shape", () -> GroupNorm.forward(k, null, x, 0, gamma, beta, 1e-3f, y, 0, mean, inv)),
        new BadCall("overlaps", () -> GroupNorm.forward(k, s, big, 0, gamma, beta, 1e-3f, big, 2, mean, inv)),
        new BadCall("mean", () -> GroupNorm.forward(k, s, x, 0, gamma, beta, 1e-3f, y, 0, inv, inv)),
        new BadCall("mean", () -> GroupNorm.forward(k, GroupShape.nhwc(1, 1, 6, 6), x, 0, gamma, beta, 1e-3f, y, 0, x, null)),
        new BadCall("dGamma", () -> GroupNorm.backward(k, s, x, 0, dy, 0, gamma, mean, inv, dx, 0, gamma, dB)),
        new BadCall("dGamma", () -> GroupNorm.backward(k, s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dG, dG)),
        new BadCall("dBeta", () -> GroupNorm.backward(k, s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dG, new float[5])),
        new BadCall("dx", () -> GroupNorm.backward(k, s, x, 0, dy, 0, gamma, mean, inv, dx, 3, dG, dB)),
        new BadCall("dy", () -> GroupNorm.backward(k, s, x, 0, new float[n - 1], 0, gamma, mean, inv, dx, 0, dG, dB)),
        new BadCall("invStd", () -> GroupNorm.backward(k, s, x, 0, dy, 0, gamma, mean, new float[1], dx, 0, dG, dB)),
        new BadCall("mean", () -> GroupNorm.backward(k, s, x, 0, dy, 0, gamma, null, inv, dx, 0, dG, dB)),
        new BadCall("read-only", () -> GroupNorm.forward(k, s, MemorySegment.ofArray(x), 0, gamma, beta, 1e-3f,
            MemorySegment.ofArray(y).asReadOnly(), 0, mean, inv)),
        new BadCall("y", () -> GroupNorm.forward(k, s, MemorySegment.ofArray(x), 0, gamma, beta, 1e-3f, MemorySegment.ofArray(y), 8, mean, inv)),
        new BadCall("dx", () -> GroupNorm.backward(k, s, MemorySegment.ofArray(x), 0, MemorySegment.ofArray(dy), 0, gamma, mean, inv,
            MemorySegment.ofArray(dx), 4, dG, dB)));
    assertRejectedBeforeWriting(cases, x, y, dy, dx, gamma, beta, mean, inv, dG, dB, big);
  }

  /**
   * An infinite dy in one element reaches dBeta (and dGamma) of its channel as IEEE addition gives it, +Inf, not NaN,
   * and leaves the other channels' gradients and the other groups' dx finite. Planes of 49 floats put the element
   * (position 45) in the lanes that the Panama channels-first backward's overlapping last vector has already
   * summed, for 8 and 16 lanes alike (a multiply by 0 there made +Inf * 0 = NaN); float[] and native segments.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("implementations")
  void infiniteDyPropagatesOnce(String name, GroupNormSupport k) {
    GroupShape s = GroupShape.nchw(2, 4, 49, 2); // groups of channels {0, 1} and {2, 3}
    SplittableRandom rnd = new SplittableRandom(45);
    int size = (int) s.size(), st = s.statistics(), hit = index(s, 1, 1, 45);
    float[] x = random(rnd, size, 1, 2), gamma = random(rnd, s.channels(), 1, 1), dy = random(rnd, size, 0, 1);
    float[] mean = new float[st], inv = new float[st];
    GroupNorm.forward(k, s, x, 0, gamma, null, 1e-3f, new float[size], 0, mean, inv);
    dy[hit] = Float.POSITIVE_INFINITY;
    double xhat = (x[hit] - mean[s.groups() + 0]) * (double) inv[s.groups() + 0];
    try (Arena arena = Arena.ofConfined()) {
      for (boolean onSegment : new boolean[] {false, true}) {
        float[] dx = new float[size], dGamma = new float[s.channels()], dBeta = new float[s.channels()];
        if (onSegment) {
          MemorySegment xs = segment(arena, false, x, 0), dys = segment(arena, false, dy, 0), dxs = segment(arena, false, dx, 0);
          GroupNorm.backward(k, s, xs, 0, dys, 0, gamma, mean, inv, dxs, 0, dGamma, dBeta);
          dx = read(dxs, 0, size);
        } else {
          GroupNorm.backward(k, s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
        }
        String where = (onSegment ? "native segment" : "float[]") + " " + s;
        assertEquals(Float.POSITIVE_INFINITY, dBeta[1], "dBeta[1] " + where);
        assertEquals(xhat > 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY, dGamma[1], "dGamma[1] " + where);
        for (int c : new int[] {0, 2, 3}) {
          assertTrue(Float.isFinite(dBeta[c]) && Float.isFinite(dGamma[c]), "channel " + c + " " + where);
        }
        for (int n = 0; n < 2; n++) {
          for (int c = 0; c < 4; c++) {
            if (n == 1 && c < 2) continue; // the infinite element's group
            for (int p = 0; p < 49; p++) assertTrue(Float.isFinite(dx[index(s, n, c, p)]), "dx n=" + n + " c=" + c + " p=" + p + " " + where);
          }
        }
      }
    }
  }
}
