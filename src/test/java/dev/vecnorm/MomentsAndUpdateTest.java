package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The sync-BN phases: moments of arbitrary splits merge to the whole; the moving-statistics update. */
class MomentsAndUpdateTest {

  static Stream<Kernels> kernels() {
    return Implementations.all().stream();
  }

  /**
   * Split a channels-last batch at random row boundaries into replicas, compute each replica's local
   * moments, merge them in a random grouping: the result equals the whole batch's moments (to float
   * rounding of the local kernels, 1e-5 relative) and the double reference.
   */
  @ParameterizedTest
  @MethodSource("kernels")
  void mergedSplitsEqualTheWhole(Kernels k) {
    SplittableRandom r = new SplittableRandom(42);
    int rows = 3000, C = 37;
    NormShape whole = NormShape.channelsLast(rows, C);
    float[] x = Reference.data(whole, 0, 99);
    for (int i = 0; i < x.length; i++) x[i] += 500; // an offset makes a sloppy merge show
    Moments all = new Moments(C);
    k.moments(whole, x, 0, all);
    double[][] ref = Reference.moments(whole, x, 0);

    for (int trial = 0; trial < 20; trial++) {
      int parts = 2 + r.nextInt(7);
      int[] cuts = new int[parts + 1];
      for (int p = 1; p < parts; p++) cuts[p] = 1 + r.nextInt(rows - 1);
      cuts[parts] = rows;
      Arrays.sort(cuts);
      Moments[] local = new Moments[parts];
      int used = 0;
      for (int p = 0; p < parts; p++) {
        local[p] = new Moments(C);
        int n = cuts[p + 1] - cuts[p];
        if (n > 0) k.moments(NormShape.channelsLast(n, C), x, cuts[p] * C, local[p]);
      }
      // Merge in a random tree: repeatedly merge a random neighbour pair.
      java.util.List<Moments> pool = new java.util.ArrayList<>(Arrays.asList(local));
      while (pool.size() > 1) {
        int i = r.nextInt(pool.size() - 1);
        Moments merged = Moments.unpack(pool.get(i).pack()).merge(pool.remove(i + 1));
        pool.set(i, merged);
      }
      Moments m = pool.get(0);
      assertEquals(rows, m.count());
      for (int c = 0; c < C; c++) {
        double std = Math.sqrt(ref[1][c]);
        // Local moments come from float kernels: both sides carry up to one float ulp of the mean.
        assertClose("mean[" + c + "]", all.mean(c), m.mean(c), 1e-5 * std + 2 * Math.ulp((float) all.mean(c)));
        assertClose("m2[" + c + "]", all.m2(c), m.m2(c), 1e-5 * all.m2(c));
        assertClose("ref mean[" + c + "]", ref[0][c], m.mean(c), 1e-5 * std + 2 * Math.ulp((float) ref[0][c]));
        assertClose("ref var[" + c + "]", ref[1][c], m.m2(c) / rows, 1e-4 * ref[1][c]);
      }
    }
  }

  @Test
  void mergeIsAssociativeToDoubleRounding() {
    Moments a = Moments.of(3, new double[] {1, -2}, new double[] {2, 8});
    Moments b = Moments.of(5, new double[] {4, 1e6}, new double[] {1, 3});
    Moments c = Moments.of(1, new double[] {-7, 0}, new double[] {0, 0});
    Moments left = Moments.unpack(a.pack()).merge(b).merge(c);
    Moments right = Moments.unpack(a.pack()).merge(Moments.unpack(b.pack()).merge(c));
    for (int ch = 0; ch < 2; ch++) {
      assertClose("mean", left.mean(ch), right.mean(ch), 1e-12 * (1 + Math.abs(left.mean(ch))));
      assertClose("m2", left.m2(ch), right.m2(ch), 1e-12 * (1 + left.m2(ch)));
    }
    // Hand-computed: channel 0 values with these moments merged: n=9, mean=(3*1+5*4-7)/9.
    assertClose("mean", 16.0 / 9, left.mean(0), 1e-12);
    double m2 = 2 + 1 + 0 + 3 * Math.pow(1 - 16.0 / 9, 2) + 5 * Math.pow(4 - 16.0 / 9, 2) + Math.pow(-7 - 16.0 / 9, 2);
    assertClose("m2", m2, left.m2(0), 1e-9);
  }

  @Test
  void kerasMovingAverageUsesBiasedVariance() {
    float[] mm = {0, 1}, mv = {1, 1};
    BatchNorm.updateMovingStatistics(0.99f, new float[] {2, 3}, new float[] {4, 0.5f}, mm, mv);
    assertArrayEquals(new float[] {0f * 0.99f + 2 * (1 - 0.99f), 1 * 0.99f + 3 * (1 - 0.99f)}, mm);
    assertArrayEquals(new float[] {1 * 0.99f + 4 * (1 - 0.99f), 1 * 0.99f + 0.5f * (1 - 0.99f)}, mv);
  }

  @Test
  void pytorchRunningVarianceIsUnbiased() {
    float[] mm = {0}, mv = {1};
    // torch momentum 0.1 == keras momentum 0.9; 4 elements with biased variance 3 -> unbiased 4.
    BatchNorm.updateMovingStatistics(0.9f, new float[] {2}, new float[] {3}, mm, mv, 4, MovingVariance.UNBIASED);
    assertEquals(0.2f, mm[0], 1e-6f);
    assertEquals(0.9f * 1 + 0.1f * 4, mv[0], 1e-6f);
    assertThrows(IllegalArgumentException.class,
        () -> BatchNorm.updateMovingStatistics(0.9f, new float[] {2}, new float[] {3}, mm, mv, 1, MovingVariance.UNBIASED));
  }
}
