package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vecnorm.NativeMomentsTest.Fill;
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
 * Channels-first normalize on native segments with short planes (inference and training forward) gives
 * the same bits as the {@code float[]} kernels on the same data, compared exactly ({@code floatToIntBits}).
 * The four tensors of at least 512 Ki floats (at least 4 samples, planes of at most 128 floats) took the
 * native route that runs one loop over a run of whole planes with per-element coefficients
 * ({@code PanamaNativeShortPlanes}) until the thirteenth session switched that route off
 * ({@code PanamaNativeShortPlanes.applies}); all cases now take the plane loop, and switching the route back on
 * makes these cases test it again. {@link NativeMomentsTest} covers fewer samples.
 *
 * <p>Small plane lengths: 2, around 8 and 16 lanes (AVX2, AVX-512), 49, 169, 196 (NCHW 7x7, 13x13, 14x14),
 * 128/129, 255 and 513; whole-vector planes of 32, 33, 42, 63 and 64 vectors of 16 lanes (512, 528, 672, 1008, 1024:
 * the two-vector-a-step loop of 32-63-vector planes, an odd count ending with one vector, and the first plane past it). Channel counts leave a partial last group of channels or fit
 * in one. Data: {@link NativeMomentsTest#data}, 1e4 + N(0, 0.01), with a drift, or with NaN and
 * infinities. Byte offsets aligned, float-aligned and not float-aligned; out of place and in place. The
 * inference result is also checked against a double reference (1e-5 * (1 + |y|)) so that the data
 * exercised the arithmetic.
 */
class NativeShortPlanesTest {

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (int outer : new int[] {4, 9}) {
      for (int channels : new int[] {3, 17, 64}) {
        for (int hw : new int[] {2, 7, 8, 9, 15, 16, 17, 49, 128, 129, 169, 196, 255, 512, 513, 528, 672, 1008, 1024}) {
          for (Fill f : Fill.values()) out.add(Arguments.of(NormShape.channelsFirst(outer, channels, hw), f));
        }
      }
    }
    // Tensors of at least 512 Ki floats with planes of at most 128: these take the run route. Planes of 15, 20, 128 and 49 floats, with a
    // partial last group of channels and ragged runs.
    for (NormShape s : new NormShape[] {NormShape.channelsFirst(4, 8739, 15), NormShape.channelsFirst(8, 3300, 20),
        NormShape.channelsFirst(4, 1029, 128), NormShape.channelsFirst(5, 5000, 49)}) {
      for (Fill f : Fill.values()) out.add(Arguments.of(s, f));
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void inferenceSameBitsAsArrays(NormShape s, Fill fill) {
    Kernels k = new Kernels(NativeMomentsTest.panama());
    int C = s.channels(), n = (int) s.size();
    float[] x = NativeMomentsTest.data(s, fill, s.hashCode() * 13L + fill.ordinal());
    Random r = new Random(C * 31L + s.inner());
    float[] gamma = new float[C], beta = new float[C], mean = new float[C], var = new float[C];
    for (int c = 0; c < C; c++) {
      gamma[c] = (float) (1 + 0.5 * r.nextGaussian());
      beta[c] = (float) r.nextGaussian();
      mean[c] = (float) (1e4 + 0.01 * r.nextGaussian());
      var[c] = (float) (1e-4 * (0.5 + r.nextDouble()));
    }
    float eps = NativeMomentsTest.EPS;
    float[] y = new float[n];
    k.forwardInference(s, x, 0, gamma, beta, mean, var, eps, y, 0);
    if (fill == Fill.OFFSET) {
      for (int o = 0; o < s.outer(); o++) {
        for (int c = 0; c < C; c++) {
          for (int i = 0; i < s.inner(); i++) {
            int at = Reference.index(s, o, c, i);
            double ref = ((double) x[at] - mean[c]) / Math.sqrt((double) var[c] + eps) * gamma[c] + beta[c];
            assertEquals(ref, y[at], 1e-5 * (1 + Math.abs(ref)), "y at " + at);
          }
        }
      }
    }
    float[] inPlace = x.clone();
    k.forwardInference(s, inPlace, 0, gamma, beta, mean, var, eps, inPlace, 0);
    try (Arena arena = Arena.ofConfined()) {
      for (long off : NativeMomentsTest.OFFSETS) {
        MemorySegment xs = NativeMomentsTest.hold(arena, x, off), ys = arena.allocate(off + 4L * n + 4, 64);
        k.forwardInference(s, xs, off, gamma, beta, mean, var, eps, ys, off);
        NativeMomentsTest.assertSameBits(y, SegmentTest.read(ys, off, n), "y at +" + off);
        NativeMomentsTest.assertSameBits(x, SegmentTest.read(xs, off, n), "x untouched at +" + off);
        k.forwardInference(s, xs, off, gamma, beta, mean, var, eps, xs, off);
        NativeMomentsTest.assertSameBits(inPlace, SegmentTest.read(xs, off, n), "in-place y at +" + off);
      }
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void trainingForwardSameBitsAsArrays(NormShape s, Fill fill) {
    Kernels k = new Kernels(NativeMomentsTest.panama());
    int C = s.channels(), n = (int) s.size();
    float[] x = NativeMomentsTest.data(s, fill, s.hashCode() * 19L + fill.ordinal());
    Random r = new Random(C);
    float[] gamma = new float[C], beta = new float[C];
    for (int c = 0; c < C; c++) {
      gamma[c] = (float) (1 + 0.5 * r.nextGaussian());
      beta[c] = (float) r.nextGaussian();
    }
    float eps = NativeMomentsTest.EPS;
    float[] y = new float[n], mean = new float[C], var = new float[C], inv = new float[C];
    k.forwardTraining(s, x, 0, gamma, beta, eps, y, 0, mean, var, inv);
    float[] inPlace = x.clone();
    k.forwardTraining(s, inPlace, 0, gamma, beta, eps, inPlace, 0, new float[C], new float[C], new float[C]);
    try (Arena arena = Arena.ofConfined()) {
      for (long off : NativeMomentsTest.OFFSETS) {
        MemorySegment xs = NativeMomentsTest.hold(arena, x, off), ys = arena.allocate(off + 4L * n + 4, 64);
        float[] m = new float[C], v = new float[C], i = new float[C];
        k.forwardTraining(s, xs, off, gamma, beta, eps, ys, off, m, v, i);
        NativeMomentsTest.assertSameBits(mean, m, "mean at +" + off);
        NativeMomentsTest.assertSameBits(var, v, "variance at +" + off);
        NativeMomentsTest.assertSameBits(inv, i, "invStd at +" + off);
        NativeMomentsTest.assertSameBits(y, SegmentTest.read(ys, off, n), "y at +" + off);
        k.forwardTraining(s, xs, off, gamma, beta, eps, xs, off, m, v, i);
        NativeMomentsTest.assertSameBits(inPlace, SegmentTest.read(xs, off, n), "in-place y at +" + off);
      }
    }
  }
}
