package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Statistics and training forward straight on native memory ({@code PanamaNativeMoments}, routed by
 * {@link Staging}) give the same bits as the Vector API kernels on a {@code float[]} holding the same
 * data: the native bodies mirror the array kernels' arithmetic and order, so any difference is a bug, and
 * the comparison is exact ({@code floatToIntBits}). The array kernels' accuracy against float64 is
 * {@link NumericsTest}'s and {@link KernelsTest}'s; here a double reference only checks that the data
 * exercised the kernels sensibly (mean to 1e-6 relative, variance to 1e-3 relative of 1e4 + N(0, 0.01)).
 *
 * <p>Shapes: channel counts around 8 and 16 lanes (AVX2 and AVX-512) and wide ones (1023: super row too
 * wide, tail vector; 1024, 2048), row counts that leave rows outside the super rows and span several
 * one-pass blocks, channels-first planes of 1 to 1023 floats and one over a channels-first block
 * (16k floats). Data: 1e4 + N(0, 0.01); the same with the first rows shifted (the first pivot is off, so
 * blocks take the cancellation redo) and drifting between blocks; NaN and infinities in some channels.
 */
class NativeMomentsTest {

  static final float EPS = 1e-3f;

  /** Byte offsets: aligned, float-aligned, and not float-aligned (native loads are unaligned loads). */
  static final long[] OFFSETS = {0, 4, 64 + 6};

  enum Fill { OFFSET, REDO, SPECIAL }

  static List<NormShape> shapes() {
    List<NormShape> out = new ArrayList<>();
    for (int c : new int[] {1, 7, 8, 9, 15, 16, 17, 64, 1023, 1024, 2048}) {
      for (int rows : new int[] {1, 3, 37, 300, 2000}) {
        if ((long) rows * c <= 700_000) out.add(NormShape.channelsLast(rows, c));
      }
    }
    // lanes ± 1 for 8 and 16 lanes; ragged tails; 255, 256, 511, 512 around the short-plane body's bound (PanamaNativeShortPlanes.ownLoops);
    // 672, 1000, 1023 below and 512 at the plane pairs' bound (PanamaNativeMoments.PAIR_INNER)
    for (int hw : new int[] {2, 7, 9, 15, 16, 17, 31, 33, 49, 169, 196, 255, 256, 511, 512, 672, 1000, 1023}) {
      out.add(NormShape.channelsFirst(3, 17, hw));
      out.add(NormShape.channelsFirst(2, 16, hw));
    }
    out.add(NormShape.channelsFirst(7, 1, 13 * 13));
    out.add(NormShape.channelsFirst(2, 3, 20_000)); // planes of two channels-first blocks
    // past L2 (more than 256 Ki floats): one sample at a time (PanamaNativeMoments.samplePlanes) from 8 vectors a plane
    // (128 floats at 16 lanes), pairs below; ragged tails of 1-15 floats, whole vectors, blocks
    out.add(NormShape.channelsFirst(3, 700, 127));
    out.add(NormShape.channelsFirst(3, 700, 128));
    out.add(NormShape.channelsFirst(3, 600, 169));
    out.add(NormShape.channelsFirst(2, 700, 196));
    out.add(NormShape.channelsFirst(3, 400, 255));
    out.add(NormShape.channelsFirst(2, 200, 672));
    out.add(NormShape.channelsFirst(1, 300, 1000));
    out.add(NormShape.channelsFirst(1, 90, 3136));
    out.add(NormShape.channelsFirst(3, 5, 20_000));
    return out;
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (NormShape s : shapes()) for (Fill f : Fill.values()) out.add(Arguments.of(s, f));
    return out.stream();
  }

  static BatchNormSupport panama() {
    var p = VectorizationProvider.panama();
    assumeTrue(p.isPresent(), "no Vector API implementation on this machine");
    return p.get();
  }

  /** 1e4 + N(0, 0.01); REDO shifts the first 8 rows by +1 and adds a drift over the rows; SPECIAL puts NaN and infinities in channels 0-2. */
  static float[] data(NormShape s, Fill fill, long seed) {
    Random r = new Random(seed);
    float[] x = new float[(int) s.size()];
    int outer = s.outer(), channels = s.channels(), inner = s.inner();
    long perChannel = (long) outer * inner;
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        for (int i = 0; i < inner; i++) {
          long k = (long) o * inner + i; // position within the channel
          double v = 1e4 + 0.01 * r.nextGaussian();
          if (fill == Fill.REDO) v += (k < 8 ? 1 : 0) + 0.5 * k / perChannel;
          x[Reference.index(s, o, c, i)] = (float) v;
        }
      }
    }
    if (fill == Fill.SPECIAL) {
      int last = outer - 1;
      x[Reference.index(s, last, 0, inner - 1)] = Float.NaN;
      if (channels > 1) x[Reference.index(s, 0, 1, 0)] = Float.POSITIVE_INFINITY;
      if (channels > 2) {
        x[Reference.index(s, last, 2, 0)] = Float.NEGATIVE_INFINITY;
        x[Reference.index(s, 0, 2, inner - 1)] = Float.POSITIVE_INFINITY;
      }
      if (channels > 3) x[Reference.index(s, last, channels - 1, 0)] = 3e38f; // finite, variance overflows float
    }
    return x;
  }

  static MemorySegment hold(Arena arena, float[] x, long offset) {
    MemorySegment seg = arena.allocate(offset + 4L * x.length + 4, 64);
    MemorySegment.copy(x, 0, seg, Staging.FLOAT_LE, offset, x.length);
    return seg;
  }

  static void assertSameBits(float[] expected, float[] actual, String what) {
    for (int i = 0; i < expected.length; i++) {
      if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
        throw new AssertionError(what + "[" + i + "]: float[] " + expected[i] + ", native " + actual[i]);
      }
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void momentsSameBitsAsArrays(NormShape s, Fill fill) {
    BatchNormSupport impl = panama();
    int C = s.channels();
    float[] x = data(s, fill, s.hashCode() * 31L + fill.ordinal());
    float[] mean = new float[C], residual = new float[C], variance = new float[C];
    impl.moments(x, 0, s.outer(), C, s.inner(), mean, residual, variance);
    if (fill == Fill.OFFSET) { // the data made sense of the kernel: near the double reference
      double[][] ref = Reference.moments(s, x, 0);
      for (int c = 0; c < C; c++) {
        assertEquals(ref[0][c], mean[c] + (double) residual[c], 1e-6 * Math.abs(ref[0][c]), "mean " + c);
        assertEquals(ref[1][c], variance[c], 1e-3 * ref[1][c] + 1e-12, "variance " + c);
      }
    }
    try (Arena arena = Arena.ofConfined()) {
      for (long off : OFFSETS) {
        MemorySegment seg = hold(arena, x, off);
        float[] m = new float[C], r = new float[C], v = new float[C];
        assertTrue(impl.momentsNative(seg, off, s.outer(), C, s.inner(), m, r, v), "native moments taken for " + s);
        assertSameBits(mean, m, "mean at +" + off);
        assertSameBits(residual, r, "meanResidual at +" + off);
        assertSameBits(variance, v, "variance at +" + off);
        // and through the public facade (Staging routes plain native segments to the native kernel)
        Kernels k = new Kernels(impl);
        Moments expected = new Moments(C), actual = new Moments(C);
        k.moments(s, x, 0, expected);
        k.moments(s, seg, off, actual);
        for (int c = 0; c < C; c++) {
          assertEquals(Double.doubleToLongBits(expected.mean(c)), Double.doubleToLongBits(actual.mean(c)), "Moments mean " + c);
          assertEquals(Double.doubleToLongBits(expected.m2(c)), Double.doubleToLongBits(actual.m2(c)), "Moments m2 " + c);
        }
      }
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void trainingForwardSameBitsAsArrays(NormShape s, Fill fill) {
    Kernels k = new Kernels(panama());
    int C = s.channels(), n = (int) s.size();
    float[] x = data(s, fill, s.hashCode() * 17L + fill.ordinal());
    Random r = new Random(C);
    float[] gamma = new float[C], beta = new float[C];
    for (int c = 0; c < C; c++) {
      gamma[c] = (float) (1 + 0.5 * r.nextGaussian());
      beta[c] = (float) r.nextGaussian();
    }
    float[] y = new float[n], mean = new float[C], var = new float[C], inv = new float[C];
    k.forwardTraining(s, x, 0, gamma, beta, EPS, y, 0, mean, var, inv);
    try (Arena arena = Arena.ofConfined()) {
      for (long off : OFFSETS) {
        MemorySegment xs = hold(arena, x, off), ys = arena.allocate(off + 4L * n + 4, 64);
        float[] m = new float[C], v = new float[C], i = new float[C];
        k.forwardTraining(s, xs, off, gamma, beta, EPS, ys, off, m, v, i);
        assertSameBits(mean, m, "mean at +" + off);
        assertSameBits(var, v, "variance at +" + off);
        assertSameBits(inv, i, "invStd at +" + off);
        assertSameBits(y, SegmentTest.read(ys, off, n), "y at +" + off);
        // in place, no affine, against the array path in place
        float[] xa = x.clone(), m2 = new float[C], v2 = new float[C], i2 = new float[C];
        k.forwardTraining(s, xa, 0, null, null, EPS, xa, 0, mean, var, inv);
        k.forwardTraining(s, xs, off, null, null, EPS, xs, off, m2, v2, i2);
        assertSameBits(mean, m2, "in-place mean at +" + off);
        assertSameBits(var, v2, "in-place variance at +" + off);
        assertSameBits(xa, SegmentTest.read(xs, off, n), "in-place y at +" + off);
      }
    }
  }
}
