package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The accuracy contract of {@link NumericsTest} (1e4 + N(0, 0.01): variance to 1e-3 relative against
 * the double reference) for the paths that compute a tensor's statistics in pieces and merge them:
 * ParallelBatchNorm's chunks, the staged tiles of native segments, and BlockedLayout's slabs. Each
 * piece's mean crosses to the merge; rounded to float it is off by up to half an ulp of 1e4 (5e-4,
 * 5% of the std), and Chan's between-piece term then adds up to ~1% to the variance.
 */
class ChunkedNumericsTest {

  private static final Arena ARENA = Arena.ofShared();

  @AfterAll
  static void close() {
    ARENA.close();
  }

  static Stream<Arguments> cases() {
    // Big enough for several 512 KiB parallel chunks and several 256 KiB staging tiles.
    NormShape[] shapes = {NormShape.channelsLast(16_384, 24), NormShape.channelsLast(4_096, 100), NormShape.channelsFirst(64, 3, 3_000)};
    return Implementations.all().stream().flatMap(k -> Stream.of(shapes).flatMap(s -> Stream.of(
        Arguments.of(k.impl().name(), "ParallelBatchNorm(2)", k, s),
        Arguments.of(k.impl().name(), "native segment", k, s))));
  }

  @ParameterizedTest(name = "{0} {1} {3}")
  @MethodSource("cases")
  void largeOffsetVarianceSurvivesTheMerge(String name, String path, Kernels k, NormShape s) {
    float[] x = data(s.size(), 11);
    int C = s.channels();
    float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
    if (path.startsWith("Parallel")) {
      try (ParallelBatchNorm p = new ParallelBatchNorm(k.impl(), 2)) {
        p.forwardTraining(s, x, 0, null, null, 1e-9f, y, 0, mean, var, inv);
      }
    } else {
      MemorySegment seg = ARENA.allocate(4L * x.length, 64);
      MemorySegment.copy(x, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, x.length);
      k.forwardTraining(s, seg, 0, null, null, 1e-9f, seg, 0, mean, var, inv);
    }
    check(s, x, mean, var);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.vecnorm.NumericsTest#kernels")
  void blockedLayoutSlabsKeepTheVariance(Kernels k) {
    BlockedShape b = BlockedShape.of(6, 40, 1_000);
    float[] x = data(b.size(), 13);
    int C = b.channels();
    float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
    BlockedLayout.forwardTraining(k, b, x, 0, null, null, 1e-9f, y, 0, mean, var, inv);
    // Every element of a channel has the same distribution, so the per-channel reference needs only the
    // channel's elements, wherever the blocked layout puts them.
    float[] nchw = new float[x.length];
    BlockedLayout.toNchw(b, x, 0, nchw, 0);
    check(NormShape.channelsFirst(b.batch(), C, b.spatial()), nchw, mean, var);
  }

  /**
   * Synchronized batch norm merges each replica's {@link Moments}: four replicas' quarters of the batch,
   * through BatchNorm (arrays, native segments) and ParallelBatchNorm, merged, must match the whole.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.vecnorm.NumericsTest#kernels")
  void replicaMomentsMergeToTheWholeBatch(Kernels k) {
    NormShape quarter = NormShape.channelsLast(2_000, 40);
    float[] x = data(4 * quarter.size(), 17);
    int q = Math.toIntExact(quarter.size());
    Moments total = new Moments(40);
    try (ParallelBatchNorm p = new ParallelBatchNorm(k.impl(), 2)) {
      for (int r = 0; r < 4; r++) {
        Moments m = new Moments(40);
        switch (r) {
          case 0, 1 -> k.moments(quarter, x, r * q, m);
          case 2 -> {
            MemorySegment seg = ARENA.allocate(4L * q, 64);
            MemorySegment.copy(x, r * q, seg, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, q);
            k.moments(quarter, seg, 0, m);
          }
          default -> p.moments(quarter, x, r * q, m);
        }
        total = total.merge(m);
      }
    }
    float[] mean = new float[40], var = new float[40];
    total.meanTo(mean);
    total.varianceTo(var);
    check(NormShape.channelsLast(8_000, 40), x, mean, var);
  }

  private static float[] data(long size, int seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[Math.toIntExact(size)];
    for (int i = 0; i < x.length; i++) x[i] = (float) (1e4 + 0.01 * r.nextGaussian());
    return x;
  }

  private static void check(NormShape s, float[] x, float[] mean, float[] var) {
    double[][] ref = Reference.moments(s, x, 0);
    for (int c = 0; c < s.channels(); c++) {
      double dm = Math.abs(mean[c] - ref[0][c]), dv = Math.abs(var[c] - ref[1][c]);
      assertTrue(dm <= 1e-3 * Math.sqrt(ref[1][c]) + Math.ulp(1e4f), "mean[" + c + "] " + mean[c] + " vs " + ref[0][c]);
      assertTrue(dv <= 1e-3 * ref[1][c], "variance[" + c + "] " + var[c] + " vs " + ref[1][c] + " (relative " + dv / ref[1][c] + ")");
    }
  }
}
