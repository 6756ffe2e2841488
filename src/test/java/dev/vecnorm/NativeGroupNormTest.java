package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.GroupNormSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * GroupNorm on plain native segments ({@code PanamaNativeGroupNorm}, reached through the facade and
 * {@code GroupNormSupport.forwardNative/backwardNative}) gives the bits of the same kernels on a
 * {@code float[]}: the native bodies are batch norm's native bodies plus the array code's own merges
 * and apply loops with segment loads, so the comparison is exact ({@code floatToRawIntBits}) for y, the
 * statistics, dx, dGamma and dBeta. The array path's accuracy is {@link GroupNormTest}'s.
 *
 * <p>Shapes: both layouts; super rows (64, 17, 48 channels), the memory-order forward's groups of two
 * and four vectors (and a group just over its 8192-float limit, which takes the per-channel route), groups
 * of lanes + 1 channels, rows too wide for super rows (1023 and 1000 channels; channels-first with one
 * position), channels-first with one position (rows to batch norm's kernels) and planes larger than a
 * cache block; shapes in vectors scale with the species' lanes. Every shape now runs natively: no call is
 * staged. Data: N(1.5, 2); 1e4 + N(0, 0.01); the same with every 16th element 1 (100 sigma) out, so
 * the groups' first elements are outliers and the memory-order forward's two-pass redo runs; NaN and
 * infinities in some samples. Byte offsets 0, 4, 70 (not float-aligned) and 1 MiB + 4; out of place and in
 * place. The new shapes' forward is also held to a double reference (1e-4, as {@link GroupNormTest}).
 */
class NativeGroupNormTest {

  private static final float EPS = 1e-3f;
  private static final long[] OFFSETS = {0, 4, 70, (1 << 20) + 4};

  enum Fill { NORMAL, FAR, OUTLIERS, SPECIAL }

  private static final int LANES = FloatVector.SPECIES_PREFERRED.length();

  /** {shape, whether the Panama native forward takes it, whether its native backward does}. */
  static List<Object[]> shapes() {
    List<Object[]> out = new ArrayList<>();
    out.add(new Object[] {GroupShape.nhwc(3, 37, 64, 32), true, true});
    out.add(new Object[] {GroupShape.instanceNhwc(3, 50, 17), true, true});
    out.add(new Object[] {GroupShape.nhwc(3, 30, 48, 3), true, true});
    out.add(new Object[] {GroupShape.nhwc(3, 20, 96, 3), true, true}); // groups of 32 channels: the memory-order forward
    out.add(new Object[] {GroupShape.nhwc(3, 11, 2 * LANES * 3, 3), true, true}); // groups of two vectors
    out.add(new Object[] {GroupShape.nhwc(3, 9, 4 * LANES * 4, 4), true, true}); // groups of four vectors
    out.add(new Object[] {GroupShape.nhwc(2, 8192 / (2 * LANES) + 1, 4 * LANES, 2), true, true}); // over the memory-order limit
    out.add(new Object[] {GroupShape.nhwc(3, 13, (LANES + 1) * 3, 3), true, true}); // lanes + 1 channels a group
    out.add(new Object[] {GroupShape.nhwc(2, 7, 1023, 3), true, true}); // rows too wide for super rows, ragged
    out.add(new Object[] {GroupShape.nhwc(2, 5, 1000, 8), true, true}); // the same, 1000 = 125 * 8
    out.add(new Object[] {GroupShape.nhwc(3, 300, 7, 1), true, true});
    out.add(new Object[] {GroupShape.nchw(3, 64, 37, 32), true, true});
    out.add(new Object[] {GroupShape.instanceNchw(3, 17, 50), true, true});
    out.add(new Object[] {GroupShape.nchw(3, 60, 1, 4), true, true}); // one position: one row to batch norm's kernels
    out.add(new Object[] {GroupShape.nchw(2, 1023, 1, 3), true, true}); // one row too wide for super rows
    out.add(new Object[] {GroupShape.nchw(2, 16, 1023, 4), true, true});
    out.add(new Object[] {GroupShape.nchw(2, 3, 20_000, 1), true, true}); // a group over several cache blocks
    out.add(new Object[] {GroupShape.nchw(2, 4, 4096, 2), true, true}); // the longest planes read through slices
    out.add(new Object[] {GroupShape.nchw(2, 4, 4097, 2), true, true}); // the shortest at absolute offsets, ragged
    out.add(new Object[] {GroupShape.nchw(3, 8, LANES, 2), true, true}); // planes of one vector: no ragged end
    out.add(new Object[] {GroupShape.nchw(2, 12, 2 * LANES + 1, 3), true, true}); // the pair loop and a one-lane ragged end
    out.add(new Object[] {GroupShape.nchw(2, 8, 3 * LANES - 1, 8), true, true}); // InstanceNorm, a ragged end of lanes - 1
    out.add(new Object[] {GroupShape.nchw(3, 8, LANES - 1, 2), true, true}); // planes shorter than a vector: batch norm's reduce
    out.add(new Object[] {GroupShape.nchw(3, 64, 3 * LANES + 1, 32), true, true}); // short planes (straight-line), 7x7 at 16 lanes
    out.add(new Object[] {GroupShape.nchw(2, 24, 4 * LANES, 8), true, true}); // short planes of four whole vectors
    return out;
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (GroupNormSupport impl : GroupNormTest.impls()) {
      for (Object[] s : shapes()) for (Fill f : Fill.values()) out.add(Arguments.of(impl.name(), impl, s[0], s[1], s[2], f));
    }
    return out.stream();
  }

  static float[] data(GroupShape s, Fill f, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[(int) s.size()];
    boolean far = f == Fill.FAR || f == Fill.OUTLIERS;
    for (int i = 0; i < x.length; i++) x[i] = (float) (far ? 1e4 + 0.01 * r.nextGaussian() : 1.5 + 2 * r.nextGaussian());
    if (f == Fill.OUTLIERS) for (int i = 0; i < x.length; i += 16) x[i] += 1f;
    if (f == Fill.SPECIAL) {
      int sample = s.channels() * s.spatial();
      x[sample + sample / 3] = Float.NaN; // sample 1
      if (s.batch() > 2) x[2 * sample + 1] = Float.POSITIVE_INFINITY; // sample 2
      x[sample / 2] = Float.NEGATIVE_INFINITY; // sample 0
    }
    return x;
  }

  private static MemorySegment copy(Arena arena, float[] a, long off) {
    return NormTesting.segment(arena, false, a, off);
  }

  private static float[] read(MemorySegment s, long off, int n) {
    return NormTesting.read(s, off, n);
  }

  private static void sameBits(float[] expected, float[] actual, String what) {
    if (expected == null) return;
    int[] e = new int[expected.length], a = new int[actual.length];
    // floatToIntBits: every NaN is one value. A NaN's sign and payload depend on which operand x86
    // propagates and on interpreted against compiled code, in the array kernels too (as NativeMomentsTest).
    for (int i = 0; i < e.length; i++) e[i] = Float.floatToIntBits(expected[i]);
    for (int i = 0; i < a.length; i++) a[i] = Float.floatToIntBits(actual[i]);
    assertArrayEquals(e, a, what);
  }

  @ParameterizedTest(name = "{0} {2} {5}")
  @MethodSource("cases")
  void nativeSegmentsGiveTheArrayBits(String name, GroupNormSupport impl, GroupShape s, boolean forwardNative, boolean backwardNative,
                                      Fill fill) {
    int n = (int) s.size();
    float[] x = data(s, fill, n), dy = data(s, Fill.NORMAL, n + 1);
    SplittableRandom r = new SplittableRandom(3);
    float[] gamma = NormTesting.random(r, s.channels(), 1, 0.5), beta = NormTesting.random(r, s.channels(), 0.2, 1);
    // The float[] path: the reference bits.
    float[] y = new float[n], mean = new float[s.statistics()], inv = new float[s.statistics()];
    GroupNorm.forward(impl, s, x, 0, gamma, beta, EPS, y, 0, mean, inv);
    float[] dx = new float[n], dGamma = new float[s.channels()], dBeta = new float[s.channels()];
    GroupNorm.backward(impl, s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
    if (fill != Fill.SPECIAL) nearReference(s, x, gamma, beta, fill == Fill.NORMAL ? y : null, mean, inv);
    boolean panama = impl.name().equals("panama");
    for (long off : OFFSETS) {
      String what = s + " " + fill + " offset " + off;
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment xs = copy(arena, x, off), dys = copy(arena, dy, off), ys = arena.allocate(n * 4L + off, 8);
        MemorySegment dxs = arena.allocate(n * 4L + off, 8);
        float[] m2 = new float[s.statistics()], i2 = new float[s.statistics()], g2 = new float[s.channels()], b2 = new float[s.channels()];
        GroupNorm.forward(impl, s, xs, off, gamma, beta, EPS, ys, off, m2, i2);
        sameBits(y, read(ys, off, n), what + " y");
        sameBits(mean, m2, what + " mean");
        sameBits(inv, i2, what + " invStd");
        GroupNorm.backward(impl, s, xs, off, dys, off, gamma, mean, inv, dxs, off, g2, b2);
        sameBits(dx, read(dxs, off, n), what + " dx");
        sameBits(dGamma, g2, what + " dGamma");
        sameBits(dBeta, b2, what + " dBeta");
        // The implementation itself: native where it says so (the facade above may have staged), same bits.
        MemorySegment ys2 = arena.allocate(n * 4L + off, 8);
        Arrays.fill(m2, Float.NaN);
        assertEquals(panama && forwardNative, impl.forwardNative(xs, off, ys2, off, s.batch(), s.channels(), s.spatial(), s.groups(),
            s.channelsLast(), gamma, beta, EPS, m2, null, 0), what + " forward native taken");
        if (panama && forwardNative) {
          sameBits(y, read(ys2, off, n), what + " native y");
          sameBits(mean, m2, what + " native mean");
        }
        Arrays.fill(g2, 0f);
        MemorySegment dxs2 = arena.allocate(n * 4L + off, 8);
        assertEquals(panama && backwardNative, impl.backwardNative(xs, off, dys, off, dxs2, off, s.batch(), s.channels(), s.spatial(),
            s.groups(), s.channelsLast(), gamma, mean, inv, 0, g2, null), what + " backward native taken");
        if (panama && backwardNative) {
          sameBits(dx, read(dxs2, off, n), what + " native dx");
          sameBits(dGamma, g2, what + " native dGamma");
        }
        // In place: y over x, dx over dy, and dx over x.
        MemorySegment xi = copy(arena, x, off);
        GroupNorm.forward(impl, s, xi, off, gamma, beta, EPS, xi, off, null, null);
        sameBits(y, read(xi, off, n), what + " in place y");
        MemorySegment gi = copy(arena, dy, off);
        GroupNorm.backward(impl, s, xs, off, gi, off, gamma, mean, inv, gi, off, null, null);
        sameBits(dx, read(gi, off, n), what + " in place dx over dy");
        MemorySegment xi2 = copy(arena, x, off);
        GroupNorm.backward(impl, s, xi2, off, dys, off, gamma, mean, inv, xi2, off, null, null);
        sameBits(dx, read(xi2, off, n), what + " in place dx over x");
      }
    }
  }

  /**
   * The channels-first backward's planes of 4097 floats and more ({@code PanamaNativeBackward.WIDE_PLANE}) are read at
   * absolute offsets into the caller's segments: x, dy and dx here at three different offsets (the test above gives all
   * three the same one, under which a load from the wrong base goes unseen), with and without a ragged end; 4096 is the
   * last plane read through slices.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("widePlanes")
  void widePlanesAtDistinctOffsets(GroupShape s) {
    GroupNormSupport impl = GroupNormTest.impls().stream().filter(i -> i.name().equals("panama")).findFirst().orElse(null);
    org.junit.jupiter.api.Assumptions.assumeTrue(impl != null, "no Panama implementation on this JVM");
    int n = (int) s.size(), c = s.channels();
    float[] x = data(s, Fill.NORMAL, n), dy = data(s, Fill.NORMAL, n + 1);
    SplittableRandom r = new SplittableRandom(5);
    float[] gamma = NormTesting.random(r, c, 1, 0.5), beta = NormTesting.random(r, c, 0.2, 1);
    float[] y = new float[n], mean = new float[s.statistics()], inv = new float[s.statistics()];
    GroupNorm.forward(impl, s, x, 0, gamma, beta, EPS, y, 0, mean, inv);
    float[] dx = new float[n], dGamma = new float[c], dBeta = new float[c];
    GroupNorm.backward(impl, s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
    for (long[] at : new long[][] {{8, 20, 36}, {6, 2, 10}}) {
      String what = s + " offsets x " + at[0] + " dy " + at[1] + " dx " + at[2];
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment xs = copy(arena, x, at[0]), dys = copy(arena, dy, at[1]), dxs = arena.allocate(n * 4L + at[2], 8);
        float[] g2 = new float[c], b2 = new float[c];
        assertTrue(impl.backwardNative(xs, at[0], dys, at[1], dxs, at[2], s.batch(), c, s.spatial(), s.groups(), s.channelsLast(),
            gamma, mean, inv, 0, g2, b2), what + " backward native taken");
        sameBits(dx, read(dxs, at[2], n), what + " dx");
        sameBits(dGamma, g2, what + " dGamma");
        sameBits(dBeta, b2, what + " dBeta");
      }
    }
  }

  static Stream<GroupShape> widePlanes() {
    return Stream.of(GroupShape.nchw(2, 4, 4096, 2), GroupShape.nchw(2, 4, 4097, 2), GroupShape.nchw(2, 2, 4096 + LANES + 1, 1),
        GroupShape.nchw(1, 2, 8192, 1));
  }

  /**
   * The float[] path (whose bits the segments must give) against {@link GroupNormTest#reference} in double:
   * y (when given) within 1e-4 (abs + rel), mean within 1e-5 relative, invStd within 1e-3 relative
   * (1e4 + N(0, 0.01) keeps its variance to 1e-3, as {@link GroupNormTest} asks; its y is not checked: the
   * float mean alone is up to half an ulp at 1e4, 5% of a standard deviation, off).
   */
  private static void nearReference(GroupShape s, float[] x, float[] gamma, float[] beta, float[] y, float[] mean, float[] inv) {
    int k = s.statistics();
    double[] stats = new double[2 * k];
    double[] ref = GroupNormTest.reference(s, NormTesting.toDouble(x), NormTesting.toDouble(gamma), NormTesting.toDouble(beta), EPS, stats);
    for (int i = 0; y != null && i < ref.length; i++) NormTesting.assertClose(s + " y[" + i + "]", ref[i], y[i], 1e-4 * (1 + Math.abs(ref[i])));
    for (int j = 0; j < k; j++) {
      NormTesting.assertClose(s + " mean[" + j + "]", stats[j], mean[j], 1e-5 * Math.abs(stats[j]) + 1e-6);
      assertTrue(Math.abs(inv[j] / stats[k + j] - 1) <= 1e-3, s + " invStd[" + j + "]: " + inv[j] + " against " + stats[k + j]);
    }
  }
}
