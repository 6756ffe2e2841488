package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertNear;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every operation's {@code MemorySegment} entry point, both implementations, on every kind of segment
 * the staging path sees, against the {@code float[]} path of the same implementation on the same data
 * ({@link KernelsTest} holds that path to the double-precision {@link Reference}).
 *
 * <p>Staged tiles merge statistics in another order than the array kernels' cache blocks, so results
 * agree to float rounding: mean, variance and invStd within 1e-5, outputs and the backward sums
 * (which cancel: terms of both signs) within 1e-4, relative to {@code 1 + |value|}
 * ({@link KernelsTest#assertNear}). A {@code float[]}-backed segment at a float-aligned offset runs
 * on the array itself and must give the same bits. In place (y = x, dx = dy) must give the same bits as
 * out of place on the same kind of segment.
 */
class SegmentTest {

  static final float EPS = 1e-3f;

  /**
   * One shape per way {@link Staging} tiles a tensor (stage 256k floats, streaming tile 64k floats):
   * small enough for one tile; channel-complete tiles of 31 channels and a shorter last block;
   * streamed slabs of rows; streamed channel blocks of one slab (2 channels, then 1); pieces of one
   * channel's inner extent; channel blocks of one very wide channels-last row.
   */
  static final List<NormShape> SHAPES = List.of(
      NormShape.channelsLast(7 * 13 * 13, 17),
      NormShape.channelsFirst(7, 17, 13 * 13),
      NormShape.channelsFirst(8, 40, 1048),
      NormShape.channelsLast(2000, 150),
      NormShape.channelsFirst(9, 3, 30_000),
      NormShape.channelsFirst(3, 1, 100_000),
      NormShape.channelsLast(4, 70_000));

  /** Where a tensor lives, at which byte offset. Unaligned offsets are not a multiple of 4. */
  enum Memory {
    NATIVE(64), NATIVE_UNALIGNED(6), BYTE_ARRAY(4), FLOAT_ARRAY_UNALIGNED(2), FLOAT_ARRAY(8), READ_ONLY_X(64);

    final long offset;

    Memory(long offset) {
      this.offset = offset;
    }

    /** A segment holding {@code data} at {@link #offset}. */
    MemorySegment hold(Arena arena, float[] data, boolean input) {
      long bytes = offset + 4L * data.length + 4;
      MemorySegment s = switch (this) {
        case NATIVE, NATIVE_UNALIGNED, READ_ONLY_X -> arena.allocate(bytes, 64);
        case BYTE_ARRAY -> MemorySegment.ofArray(new byte[(int) bytes]);
        case FLOAT_ARRAY, FLOAT_ARRAY_UNALIGNED -> MemorySegment.ofArray(new float[(int) (bytes + 3) / 4]);
      };
      MemorySegment.copy(data, 0, s, Staging.FLOAT_LE, offset, data.length);
      return input && this == READ_ONLY_X ? s.asReadOnly() : s;
    }
  }

  static float[] read(MemorySegment s, long offset, int floats) {
    float[] out = new float[floats];
    MemorySegment.copy(s, Staging.FLOAT_LE, offset, out, 0, floats);
    return out;
  }

  /**
   * Small shapes on every kind of memory; the large ones (they exist for their tilings, which do not
   * depend on the memory) on an unaligned native segment and an unaligned float[] segment only.
   */
  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (Kernels k : Implementations.all()) {
      for (NormShape s : SHAPES) {
        boolean small = s.size() <= Staging.STAGE_FLOATS;
        for (Memory m : Memory.values()) {
          if (small || m == Memory.NATIVE_UNALIGNED || m == Memory.FLOAT_ARRAY_UNALIGNED) out.add(Arguments.of(k.impl().name(), k, s, m));
        }
      }
    }
    return out.stream();
  }

  private static final Map<NormShape, Data> DATA = new ConcurrentHashMap<>();

  /** Inputs are only read, so cases of one shape share them. */
  static Data data(NormShape s) {
    return DATA.computeIfAbsent(s, Data::new);
  }

  /** Tensors and parameters of one case, with the array path's results to compare against. */
  static final class Data {
    final NormShape s;
    final int size, channels;
    final float[] x, dy, gamma, beta, movingMean, movingVariance;

    Data(NormShape s) {
      this.s = s;
      size = (int) s.size();
      channels = s.channels();
      long seed = s.hashCode();
      x = Reference.data(s, 0, seed);
      dy = Reference.data(s, 0, seed + 7);
      gamma = Reference.perChannel(channels, 1, 0.5, seed + 1);
      beta = Reference.perChannel(channels, 0, 1, seed + 2);
      movingMean = Reference.perChannel(channels, 0.5, 1, seed + 3);
      movingVariance = Reference.perChannel(channels, 2, 0.5, seed + 4);
      for (int c = 0; c < channels; c++) movingVariance[c] = Math.abs(movingVariance[c]);
    }

    float[] perChannel() {
      return new float[channels];
    }

    /** The array path's training forward: {y, mean, variance, invStd}. */
    float[][] forward(Kernels k) {
      float[] y = new float[size], mean = perChannel(), var = perChannel(), inv = perChannel();
      k.forwardTraining(s, x, 0, gamma, beta, EPS, y, 0, mean, var, inv);
      return new float[][] {y, mean, var, inv};
    }
  }

  static void assertSameOrNear(Memory m, float[] expected, float[] actual, double rel) {
    if (m == Memory.FLOAT_ARRAY) assertArrayEquals(expected, actual);
    else assertNear(expected, actual, rel);
  }

  @ParameterizedTest(name = "{0} {2} {3}")
  @MethodSource("cases")
  void forwardTrainingMatchesArrays(String name, Kernels k, NormShape s, Memory m) {
    Data d = data(s);
    float[][] f = d.forward(k);
    float[] y = f[0], mean = f[1], var = f[2], inv = f[3];

    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = m.hold(arena, d.x, true), ys = m.hold(arena, new float[d.size], false);
      float[] mean2 = d.perChannel(), var2 = d.perChannel(), inv2 = d.perChannel();
      k.forwardTraining(s, xs, m.offset, d.gamma, d.beta, EPS, ys, m.offset, mean2, var2, inv2);
      assertSameOrNear(m, mean, mean2, 1e-5);
      assertSameOrNear(m, var, var2, 1e-5);
      assertSameOrNear(m, inv, inv2, 1e-5);
      float[] out = read(ys, m.offset, d.size);
      assertSameOrNear(m, y, out, 1e-4);

      if (m == Memory.READ_ONLY_X) return;
      float[] mean3 = d.perChannel(), var3 = d.perChannel(), inv3 = d.perChannel();
      k.forwardTraining(s, xs, m.offset, null, null, EPS, xs, m.offset, mean3, var3, inv3); // in place, no affine
      assertArrayEquals(mean2, mean3);
      assertArrayEquals(var2, var3);
      float[] inPlace = read(xs, m.offset, d.size);
      float[] plain = new float[d.size];
      k.forwardTraining(s, d.x, 0, null, null, EPS, plain, 0, mean, var, inv);
      assertSameOrNear(m, plain, inPlace, 1e-4);
    }
  }

  @ParameterizedTest(name = "{0} {2} {3}")
  @MethodSource("cases")
  void forwardInferenceAndNormalizeMatchArrays(String name, Kernels k, NormShape s, Memory m) {
    Data d = data(s);
    float[] y = new float[d.size];
    k.forwardInference(s, d.x, 0, d.gamma, d.beta, d.movingMean, d.movingVariance, EPS, y, 0);
    float[] invStd = d.perChannel();
    for (int c = 0; c < d.channels; c++) invStd[c] = 1 / d.movingVariance[c];
    float[] z = new float[d.size];
    k.normalize(s, d.x, 0, d.movingMean, invStd, null, d.beta, z, 0);

    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = m.hold(arena, d.x, true), ys = m.hold(arena, new float[d.size], false);
      k.forwardInference(s, xs, m.offset, d.gamma, d.beta, d.movingMean, d.movingVariance, EPS, ys, m.offset);
      assertSameOrNear(m, y, read(ys, m.offset, d.size), 1e-5);
      k.normalize(s, xs, m.offset, d.movingMean, invStd, null, d.beta, ys, m.offset);
      assertSameOrNear(m, z, read(ys, m.offset, d.size), 1e-5);

      if (m == Memory.READ_ONLY_X) return;
      k.forwardInference(s, xs, m.offset, d.gamma, d.beta, d.movingMean, d.movingVariance, EPS, xs, m.offset); // in place
      assertSameOrNear(m, y, read(xs, m.offset, d.size), 1e-5);
    }
  }

  @ParameterizedTest(name = "{0} {2} {3}")
  @MethodSource("cases")
  void momentsMatchArrays(String name, Kernels k, NormShape s, Memory m) {
    Data d = data(s);
    Moments expected = new Moments(d.channels), actual = new Moments(d.channels);
    k.moments(s, d.x, 0, expected);
    try (Arena arena = Arena.ofConfined()) {
      k.moments(s, m.hold(arena, d.x, true), m.offset, actual);
    }
    assertTrue(actual.count() == expected.count());
    float[] em = d.perChannel(), am = d.perChannel(), ev = d.perChannel(), av = d.perChannel();
    for (int c = 0; c < d.channels; c++) {
      em[c] = (float) expected.mean(c);
      am[c] = (float) actual.mean(c);
      ev[c] = (float) (expected.m2(c) / expected.count());
      av[c] = (float) (actual.m2(c) / actual.count());
    }
    assertSameOrNear(m, em, am, 1e-5);
    assertSameOrNear(m, ev, av, 1e-5);
  }

  @ParameterizedTest(name = "{0} {2} {3}")
  @MethodSource("cases")
  void backwardMatchesArrays(String name, Kernels k, NormShape s, Memory m) {
    Data d = data(s);
    float[][] f = d.forward(k);
    float[] mean = f[1], inv = f[3];
    float[] dx = new float[d.size], dGamma = d.perChannel(), dBeta = d.perChannel();
    k.backward(s, d.x, 0, d.dy, 0, d.gamma, mean, inv, dx, 0, dGamma, dBeta);
    float[] sumDy = d.perChannel(), sumDyXhat = d.perChannel(), dxSplit = new float[d.size];
    k.backwardReduce(s, d.x, 0, d.dy, 0, mean, inv, sumDy, sumDyXhat);
    k.backwardApply(s, d.x, 0, d.dy, 0, d.gamma, mean, inv, sumDy, sumDyXhat, 3 * s.countPerChannel(), dxSplit, 0);

    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = m.hold(arena, d.x, true), dys = m.hold(arena, d.dy, true), dxs = m.hold(arena, new float[d.size], false);
      float[] dGamma2 = d.perChannel(), dBeta2 = d.perChannel();
      k.backward(s, xs, m.offset, dys, m.offset, d.gamma, mean, inv, dxs, m.offset, dGamma2, dBeta2);
      assertSameOrNear(m, dGamma, dGamma2, 1e-4);
      assertSameOrNear(m, dBeta, dBeta2, 1e-4);
      float[] dxOut = read(dxs, m.offset, d.size);
      assertSameOrNear(m, dx, dxOut, 1e-4);

      // The split phases, with a global count three times the local one, as synchronized batch norm uses them.
      float[] sumDy2 = d.perChannel(), sumDyXhat2 = d.perChannel();
      k.backwardReduce(s, xs, m.offset, dys, m.offset, mean, inv, sumDy2, sumDyXhat2);
      assertSameOrNear(m, sumDy, sumDy2, 1e-4);
      assertSameOrNear(m, sumDyXhat, sumDyXhat2, 1e-4);
      k.backwardApply(s, xs, m.offset, dys, m.offset, d.gamma, mean, inv, sumDy, sumDyXhat, 3 * s.countPerChannel(), dxs, m.offset);
      assertSameOrNear(m, dxSplit, read(dxs, m.offset, d.size), 1e-4);

      if (m == Memory.READ_ONLY_X) return;
      // dx = dy in place, dGamma/dBeta not wanted: same bits as out of place.
      MemorySegment g = m.hold(arena, d.dy, false);
      k.backward(s, xs, m.offset, g, m.offset, d.gamma, mean, inv, g, m.offset, null, null);
      assertArrayEquals(dxOut, read(g, m.offset, d.size));
    }
  }

  /** Threads staging at once each get their own workspace: every thread's results equal a lone call's, bit for bit. */
  @Test
  void concurrentCallsDoNotShareStages() throws Exception {
    Kernels k = Implementations.all().getLast();
    NormShape s = SHAPES.get(3); // two passes over streamed tiles: the stage holds data between kernel calls
    Data d = data(s);
    try (Arena arena = Arena.ofShared(); var pool = java.util.concurrent.Executors.newFixedThreadPool(4)) {
      MemorySegment x = Memory.NATIVE.hold(arena, d.x, true);
      float[] mean = d.perChannel(), var = d.perChannel(), inv = d.perChannel();
      MemorySegment y = Memory.NATIVE.hold(arena, new float[d.size], false);
      k.forwardTraining(s, x, 64, d.gamma, d.beta, EPS, y, 64, mean, var, inv);
      float[] expected = read(y, 64, d.size);
      List<java.util.concurrent.Future<float[]>> results = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        results.add(pool.submit(() -> {
          MemorySegment out = Memory.NATIVE.hold(arena, new float[d.size], false);
          float[] m = d.perChannel(), v = d.perChannel(), i = d.perChannel();
          for (int r = 0; r < 10; r++) k.forwardTraining(s, x, 64, d.gamma, d.beta, EPS, out, 64, m, v, i);
          assertArrayEquals(mean, m);
          return read(out, 64, d.size);
        }));
      }
      for (var r : results) assertArrayEquals(expected, r.get());
    }
  }

  /**
   * Staging allocates nothing per call once its pooled workspace exists: stages, tile walk and
   * per-channel temporaries are reused (the old path allocated a 64 KiB stage per call). Measured on
   * the scalar implementation, which allocates nothing before C2 either; the Vector API kernels box
   * vectors until compiled, so their steady state is checked with JMH {@code -prof gc} instead.
   */
  @Test
  void stagedCallsAllocateNothingOnceWarm() {
    var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    Kernels k = new Kernels(dev.vecnorm.internal.VectorizationProvider.scalar());
    for (NormShape s : List.of(SHAPES.get(0), SHAPES.get(2), SHAPES.get(3), SHAPES.get(4))) {
      Data d = data(s);
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment x = Memory.NATIVE.hold(arena, d.x, true), dy = Memory.NATIVE.hold(arena, d.dy, true);
        MemorySegment y = Memory.NATIVE.hold(arena, new float[d.size], false);
        float[] mean = d.perChannel(), var = d.perChannel(), inv = d.perChannel(), dGamma = d.perChannel(), dBeta = d.perChannel();
        Runnable calls = () -> {
          k.forwardTraining(s, x, 64, d.gamma, d.beta, EPS, y, 64, mean, var, inv);
          k.forwardInference(s, x, 64, d.gamma, d.beta, d.movingMean, d.movingVariance, EPS, y, 64);
          k.backward(s, x, 64, dy, 64, d.gamma, mean, inv, y, 64, dGamma, dBeta);
        };
        calls.run(); // the workspace's temporaries for this shape
        calls.run();
        long before = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 5; i++) calls.run();
        long perCall = (threads.getCurrentThreadAllocatedBytes() - before) / 15;
        assertTrue(perCall < 256, s + ": " + perCall + " bytes allocated per staged call");
      }
    }
  }
}
