package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Panama backward on plain native segments (straight on the memory, {@code PanamaNativeBackward})
 * against the same implementation's {@code float[]} kernels on the same data: the native bodies mirror
 * the array loops' arithmetic and order, so dx and the sums must be the same bits, not merely close
 * ({@link KernelsTest} holds the array path to the double-precision reference). Every call is also
 * checked to run no array kernel, i.e. not to be staged.
 */
class NativeBackwardTest {

  /**
   * Channel counts around 8 and 16 lanes (AVX2, AVX-512), 1023 (wide rows with a ragged tail: super
   * rows would exceed their cap), 2048; planes short, ragged, one vector, and long enough (≥ 1024) for the
   * per-channel fused backward, with and without a ragged end.
   */
  static Stream<NormShape> shapes() {
    List<NormShape> list = new ArrayList<>();
    for (int c : new int[] {1, 7, 8, 9, 15, 16, 17, 33, 1023, 2048}) {
      list.add(NormShape.channelsLast(1, c));
      list.add(NormShape.channelsLast(5, c));
      list.add(NormShape.channelsLast(67, c)); // four-row steps, leftover super rows and floats
    }
    list.add(NormShape.channelsLast(4099, 1));
    list.add(NormShape.channelsLast(3 * 13 * 13, 17));
    for (int inner : new int[] {2, 7, 15, 16, 17, 33, 49, 159, 160, 169, 196, 672, 1023}) {
      list.add(NormShape.channelsFirst(3, 5, inner));
      list.add(NormShape.channelsFirst(2, 17, inner));
    }
    // 9001: several reverse-apply blocks; from 4097 floats the planes are read at absolute offsets (WIDE_PLANE)
    for (int inner : new int[] {1024, 1031, 3136, 4096, 4097, 4113, 8192, 9001}) list.add(NormShape.channelsFirst(3, 3, inner));
    return list.stream();
  }

  /** Byte offsets: float-aligned, odd (unaligned floats) and zero. */
  static final long[] OFFSETS = {12, 6, 0};

  /** Counts array-kernel calls: a native call that runs any is being staged. */
  static final class Recording implements BatchNormSupport {
    final BatchNormSupport impl;
    int arrayCalls;

    Recording(BatchNormSupport impl) {
      this.impl = impl;
    }

    @Override public String name() {
      return impl.name();
    }

    @Override public void moments(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] meanResidual,
                                  float[] variance) {
      arrayCalls++;
      impl.moments(x, xOffset, outer, channels, inner, mean, meanResidual, variance);
    }

    @Override public void normalize(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, int inner,
                                    float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
      arrayCalls++;
      impl.normalize(x, xOffset, y, yOffset, outer, channels, inner, mean, scale, fromVariance, epsilon, gamma, beta);
    }

    @Override public void backwardReduce(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels, int inner,
                                         float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
      arrayCalls++;
      impl.backwardReduce(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
    }

    @Override public void backwardApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer,
                                        int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                                        float[] sumDyXhat, double count) {
      arrayCalls++;
      impl.backwardApply(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat,
          count);
    }

    @Override public void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer,
                                   int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                                   float[] sumDyXhat, double count) {
      arrayCalls++;
      impl.backward(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat, count);
    }

    @Override public boolean backwardNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                            long dxOffset, int outer, int channels, int inner, float[] mean, float[] invStd,
                                            float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
      return impl.backwardNative(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy,
          sumDyXhat, count);
    }

    @Override public boolean backwardReduceNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer,
                                                  int channels, int inner, float[] mean, float[] invStd, float[] sumDy,
                                                  float[] sumDyXhat) {
      return impl.backwardReduceNative(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
    }

    @Override public boolean backwardApplyNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                                 long dxOffset, int outer, int channels, int inner, float[] mean, float[] invStd,
                                                 float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
      return impl.backwardApplyNative(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy,
          sumDyXhat, count);
    }
  }

  static BatchNormSupport panama() {
    var p = VectorizationProvider.panama();
    assumeTrue(p.isPresent(), "no Panama implementation on this JVM");
    return p.get();
  }

  /** x ~ 3 + N(0, 2), dy ~ N(0, 1); per-channel statistics and gamma near, not at, the data's. */
  record Data(float[] x, float[] dy, float[] mean, float[] invStd, float[] gamma) {
    static Data of(NormShape s, long seed) {
      SplittableRandom r = new SplittableRandom(seed);
      int n = (int) s.size(), c = s.channels();
      float[] x = new float[n], dy = new float[n], mean = new float[c], invStd = new float[c], gamma = new float[c];
      for (int i = 0; i < n; i++) {
        x[i] = (float) (3 + 2 * r.nextGaussian());
        dy[i] = (float) r.nextGaussian();
      }
      for (int k = 0; k < c; k++) {
        mean[k] = (float) (3 + 0.1 * r.nextGaussian());
        invStd[k] = (float) (0.5 + 0.01 * r.nextGaussian());
        gamma[k] = (float) (1 + 0.3 * r.nextGaussian());
      }
      return new Data(x, dy, mean, invStd, gamma);
    }
  }

  static MemorySegment hold(Arena arena, float[] data, long offset) {
    MemorySegment s = arena.allocate(offset + 4L * data.length + 4, 64);
    MemorySegment.copy(data, 0, s, Staging.FLOAT_LE, offset, data.length);
    return s;
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void backwardSameBitsAsArrays(NormShape s) {
    Recording rec = new Recording(panama());
    Kernels k = new Kernels(rec);
    int n = (int) s.size(), c = s.channels();
    for (long offset : OFFSETS) {
      Data d = Data.of(s, 31L * n + c + offset);
      for (float[] gamma : new float[][] {d.gamma(), null}) {
        float[] dx = new float[n], dGamma = new float[c], dBeta = new float[c];
        k.backward(s, d.x(), 0, d.dy(), 0, gamma, d.mean(), d.invStd(), dx, 0, dGamma, dBeta);
        for (boolean inPlace : new boolean[] {false, true}) {
          try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = hold(arena, d.x(), offset), dy = hold(arena, d.dy(), offset);
            MemorySegment out = inPlace ? dy : arena.allocate(offset + 4L * n, 64);
            float[] segGamma = new float[c], segBeta = new float[c];
            rec.arrayCalls = 0;
            k.backward(s, x, offset, dy, offset, gamma, d.mean(), d.invStd(), out, offset, segGamma, segBeta);
            String what = s + " offset " + offset + (inPlace ? " dx = dy" : "") + (gamma == null ? " no gamma" : "");
            assertEquals(0, rec.arrayCalls, "staged instead of native: " + what);
            assertArrayEquals(dx, SegmentTest.read(out, offset, n), "dx " + what);
            assertArrayEquals(dGamma, segGamma, "dGamma " + what);
            assertArrayEquals(dBeta, segBeta, "dBeta " + what);
          }
        }
      }
    }
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void reduceAndApplySameBitsAsArrays(NormShape s) {
    Recording rec = new Recording(panama());
    Kernels k = new Kernels(rec);
    int n = (int) s.size(), c = s.channels();
    long globalCount = 3 * s.countPerChannel(); // as a synchronized BN's apply sees it
    for (long offset : OFFSETS) {
      Data d = Data.of(s, 17L * n + c + offset);
      float[] sumDy = new float[c], sumDyXhat = new float[c], dx = new float[n];
      k.backwardReduce(s, d.x(), 0, d.dy(), 0, d.mean(), d.invStd(), sumDy, sumDyXhat);
      k.backwardApply(s, d.x(), 0, d.dy(), 0, d.gamma(), d.mean(), d.invStd(), sumDy, sumDyXhat, globalCount, dx, 0);
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment x = hold(arena, d.x(), offset), dy = hold(arena, d.dy(), offset);
        float[] segDy = new float[c], segDyXhat = new float[c];
        rec.arrayCalls = 0;
        k.backwardReduce(s, x, offset, dy, offset, d.mean(), d.invStd(), segDy, segDyXhat);
        assertEquals(0, rec.arrayCalls, "reduce staged: " + s);
        assertArrayEquals(sumDy, segDy, "sumDy " + s + " offset " + offset);
        assertArrayEquals(sumDyXhat, segDyXhat, "sumDyXhat " + s + " offset " + offset);
        MemorySegment out = arena.allocate(offset + 4L * n, 64);
        k.backwardApply(s, x, offset, dy, offset, d.gamma(), d.mean(), d.invStd(), sumDy, sumDyXhat, globalCount, out, offset);
        assertArrayEquals(dx, SegmentTest.read(out, offset, n), "dx " + s + " offset " + offset);
        k.backwardApply(s, x, offset, dy, offset, d.gamma(), d.mean(), d.invStd(), sumDy, sumDyXhat, globalCount, dy, offset);
        assertArrayEquals(dx, SegmentTest.read(dy, offset, n), "dx = dy " + s + " offset " + offset);
        assertEquals(0, rec.arrayCalls, "apply staged: " + s);
      }
    }
  }

  static Stream<NormShape> wideShapes() {
    List<NormShape> list = new ArrayList<>();
    for (int inner : new int[] {4096, 4097, 4113, 8192, 9001}) list.add(NormShape.channelsFirst(2, 3, inner));
    for (int c : new int[] {1000, 2048, 2064, 4096}) list.add(NormShape.channelsLast(9, c)); // two four-row steps and one row
    // memory order (planes under 2560 floats, 5 MiB and 8 samples), planes of 1024 floats and more at absolute offsets
    list.add(NormShape.channelsFirst(8, 160, 1024));
    list.add(NormShape.channelsFirst(8, 160, 1031));
    return list.stream();
  }

  /**
   * Planes longer than one apply block ({@code PanamaNativeBackward.WIDE_PLANE}) and channels-last super rows of 2048
   * floats and more ({@code WIDE_ROW}), and memory-order samples of planes of 1024 floats and more ({@code WIDE_SAMPLE_PLANE}),
   * are read at absolute offsets into the caller's segments: x, dy and dx here at three
   * different offsets (the other tests give all three the same one, under which a load from the wrong base goes unseen),
   * with and without a ragged end; 4096-float planes and 2000-float super rows (1000 channels) are the last sliced ones.
   */
  @ParameterizedTest
  @MethodSource("wideShapes")
  void wideAtDistinctOffsets(NormShape s) {
    Recording rec = new Recording(panama());
    Kernels k = new Kernels(rec);
    int n = (int) s.size(), c = s.channels();
    Data d = Data.of(s, 5L * s.size());
    float[] dx = new float[n], dGamma = new float[c], dBeta = new float[c];
    k.backward(s, d.x(), 0, d.dy(), 0, d.gamma(), d.mean(), d.invStd(), dx, 0, dGamma, dBeta);
    for (long[] at : new long[][] {{8, 20, 36}, {6, 2, 10}}) {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment x = hold(arena, d.x(), at[0]), dy = hold(arena, d.dy(), at[1]);
        MemorySegment out = arena.allocate(at[2] + 4L * n, 64);
        float[] segGamma = new float[c], segBeta = new float[c];
        rec.arrayCalls = 0;
        k.backward(s, x, at[0], dy, at[1], d.gamma(), d.mean(), d.invStd(), out, at[2], segGamma, segBeta);
        String what = s + " offsets x " + at[0] + " dy " + at[1] + " dx " + at[2];
        assertEquals(0, rec.arrayCalls, "staged instead of native: " + what);
        assertArrayEquals(dx, SegmentTest.read(out, at[2], n), "dx " + what);
        assertArrayEquals(dGamma, segGamma, "dGamma " + what);
        assertArrayEquals(dBeta, segBeta, "dBeta " + what);
      }
    }
  }

  /**
   * The suite's shapes take the native path. The choice depends on the channel count and the plane
   * length only, so two images (or 64 rows) of each stand for the full tensor.
   */
  @Test
  void suiteShapesRunNative() {
    Recording rec = new Recording(panama());
    Kernels k = new Kernels(rec);
    List<NormShape> suite = List.of(NormShape.channelsLast(64, 1024), NormShape.channelsLast(64, 256),
        NormShape.channelsLast(2 * 56 * 56, 64), NormShape.channelsFirst(2, 64, 56 * 56),
        NormShape.channelsLast(2 * 14 * 14, 256), NormShape.channelsFirst(2, 256, 14 * 14),
        NormShape.channelsLast(2 * 7 * 7, 2048), NormShape.channelsFirst(2, 2048, 7 * 7),
        NormShape.channelsLast(7 * 13 * 13, 17), NormShape.channelsFirst(7, 17, 13 * 13));
    for (NormShape s : suite) {
      Data d = Data.of(s, s.size());
      int c = s.channels();
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment x = hold(arena, d.x(), 0), dy = hold(arena, d.dy(), 0);
        rec.arrayCalls = 0;
        k.backward(s, x, 0, dy, 0, d.gamma(), d.mean(), d.invStd(), dy, 0, new float[c], new float[c]);
        assertEquals(0, rec.arrayCalls, "staged: " + s);
      }
    }
  }
}
