package dev.vecnorm.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The gate's statistics against values computed by hand (and cross-checked with
 * scipy.stats.mannwhitneyu 1.17, which gives the same U and p for every example here).
 */
class StatsTest {

  @Test
  void mannWhitneyExactSmallExampleByHand() {
    // Sorted together: 1.1x 2.2x 3.3x 4.4y 5.5x 6.6y 7.7y. U_x counts pairs x > y: only 5.5 > 4.4, so U = 1.
    // Arrangements of 4 x and 3 y: C(7,3) = 35. U = 0: one (xxxxyyy); U = 1: one (xxxyxyy). P(U <= 1) = 2/35.
    Stats.MannWhitney mw = Stats.mannWhitney(new double[] {1.1, 3.3, 2.2, 5.5}, new double[] {4.4, 6.6, 7.7});
    assertEquals(1.0, mw.u());
    assertTrue(mw.exact());
    assertEquals(4.0 / 35, mw.p(), 1e-12);
    // Complete separation of 3 and 3: P(U = 0) = 1 / C(6,3) = 1/20, two-sided 0.1 (the floor with 3 samples a side).
    assertEquals(0.1, Stats.mannWhitney(new double[] {1, 2, 3}, new double[] {4, 5, 6}).p(), 1e-12);
    assertEquals(0.1, Stats.mannWhitney(new double[] {4, 5, 6}, new double[] {1, 2, 3}).p(), 1e-12);
  }

  @Test
  void mannWhitneyExactMediumExample() {
    // U = 0+1+2+3+4+5+6+6+6+6 = 39 (y values below each x); scipy exact two-sided p = 0.1801944185845115.
    double[] x = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19}, y = {2, 4, 6, 8, 10, 12, 20, 22, 24, 26, 28, 30};
    Stats.MannWhitney mw = Stats.mannWhitney(x, y);
    assertEquals(39.0, mw.u());
    assertEquals(0.1801944185845115, mw.p(), 1e-12);
  }

  @Test
  void mannWhitneyWithTiesUsesMidRanksAndTheTieCorrectedNormalApproximation() {
    // x = 1 2 2 3, y = 2 3 4 4 5. Mid-ranks: 1->1, the three 2s->3, the two 3s->5.5, the two 4s->7.5, 5->9.
    // R_x = 1 + 3 + 3 + 5.5 = 12.5, U = 12.5 - 4*5/2 = 2.5; mean n1 n2 / 2 = 10.
    // Variance 20/12 * (10 - (24 + 6 + 6) / (9*8)) = 15.8333; z = (|2.5 - 10| - 0.5) / sqrt(15.8333) = 1.75919,
    // p = 2 (1 - Phi(1.75919)) = 0.0785459.
    Stats.MannWhitney mw = Stats.mannWhitney(new double[] {1, 2, 2, 3}, new double[] {2, 3, 4, 4, 5});
    assertEquals(2.5, mw.u());
    assertFalse(mw.exact());
    assertEquals(0.07854585095119067, mw.p(), 1e-6);
  }

  @Test
  void identicalSamplesGiveNoEvidence() {
    double[] x = {5, 5, 5, 5, 5, 5};
    Stats.MannWhitney mw = Stats.mannWhitney(x, x.clone());
    assertEquals(18.0, mw.u()); // every pair tied: half of 6 * 6
    assertEquals(1.0, mw.p());
  }

  @Test
  void designEffectByHand() {
    // logs: side A forks {0, .2} {1, 1.2}, side B forks {0, .2} {0, .2}; m = 2.
    // Between forks, around each side's mean: A 2 * (0.5^2 + 0.5^2) = 1, B 0; MSB = 1 / (4 forks - 2 sides) = 0.5.
    // Within: 8 deviations of 0.1, SS 0.08, MSW = 0.08 / (8 - 4) = 0.02. ICC = (0.5 - 0.02) / (0.5 + 0.02) = 0.923077.
    double e = Math.E;
    double[] a = {1, Math.exp(0.2), e, Math.exp(1.2)}, b = {1, Math.exp(0.2), 1, Math.exp(0.2)};
    assertEquals(1 + 0.48 / 0.52, Stats.designEffect(a, 2, b, 2), 1e-12);
    assertEquals(1.0, Stats.designEffect(a, 1, b, 2)); // one fork: nothing to estimate
    assertEquals(1.0, Stats.designEffect(b, 2, b, 2)); // forks agree
    // The variance of U grows by the design effect: z shrinks by its square root.
    double[] x = {1, 2, 3, 4, 5, 6, 7, 8}, y = {5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5};
    Stats.MannWhitney plain = Stats.mannWhitney(x, y, 1.0001), inflated = Stats.mannWhitney(x, y, 4);
    double zPlain = -Stats.normalQuantile(plain.p() / 2), zInflated = -Stats.normalQuantile(inflated.p() / 2);
    assertEquals(zPlain / 2, zInflated, 1e-3 * zPlain);
  }

  @Test
  void normalFunctionsAgainstTables() {
    assertEquals(0.975, Stats.normalCdf(1.959963984540054), 2e-7);
    assertEquals(0.006209665325776132, Stats.normalCdf(-2.5), 2e-7);
    assertEquals(2.5758293035489004, Stats.normalQuantile(0.995), 1e-8);
    assertEquals(-1.6448536269514729, Stats.normalQuantile(0.05), 1e-8);
    // Student t quantiles (tables): 99.95% at df 2 -> 31.599 (the 31.6 standard errors), df 4 -> 8.610,
    // df 10 -> 4.587, df 29 -> 3.659, df 100 -> 3.390; 97.5% at df 2 -> 4.303, 99% at df 6 -> 3.143.
    assertEquals(31.599, Stats.tQuantile(0.9995, 2), 1e-3);
    assertEquals(8.610, Stats.tQuantile(0.9995, 4), 1e-3);
    assertEquals(4.587, Stats.tQuantile(0.9995, 10), 1e-3);
    assertEquals(3.659, Stats.tQuantile(0.9995, 29), 1e-3);
    assertEquals(3.390, Stats.tQuantile(0.9995, 100), 1e-3);
    assertEquals(4.303, Stats.tQuantile(0.975, 2), 1e-3);
    assertEquals(3.143, Stats.tQuantile(0.99, 6), 1e-3);
    assertEquals(-3.143, Stats.tQuantile(0.01, 6), 1e-3);
  }

  @Test
  void forkIntervalIsWelchOnForkMediansByHand() {
    // Fork log-medians: numerator 1 and 1.2, denominator 0 and 0.2. Means 1.1 and 0.1, variances 0.02 each;
    // se = sqrt(0.02/2 + 0.02/2) = sqrt(0.02); Welch df = 0.02^2 / (0.01^2 + 0.01^2) = 2; t(0.975, 2) = 4.302653.
    double e1 = Math.E, e12 = Math.exp(1.2), e02 = Math.exp(0.2);
    Stats.Interval ci = Stats.forkInterval(new double[] {e1, e1, e12, e12}, 2, new double[] {1, 1, e02, e02}, 2, 0.025);
    double half = 4.302652729749464 * Math.sqrt(0.02);
    assertEquals(Math.exp(1 - half), ci.lo(), 1e-6);
    assertEquals(Math.exp(1 + half), ci.hi(), 1e-6);
    assertEquals(null, Stats.forkInterval(new double[] {1, 2, 3}, 1, new double[] {1, 2}, 2, 0.025)); // one fork: no fork-level spread
  }

  @Test
  void holmAdjustmentByHand() {
    // Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06.
    assertArrayEquals(new double[] {0.03, 0.06, 0.06, 0.02}, Stats.holm(new double[] {0.01, 0.04, 0.03, 0.005}), 1e-12);
    assertArrayEquals(new double[] {1.0, 1.0}, Stats.holm(new double[] {0.6, 0.9}), 1e-12);
  }

  @Test
  void medianAndQuantiles() {
    assertEquals(2.5, Stats.median(new double[] {4, 1, 3, 2}));
    assertEquals(3.0, Stats.median(new double[] {5, 1, 3}));
    assertEquals(1.75, Stats.quantile(new double[] {1, 2, 3, 4}, 0.25));
  }

  static double[] normal(SplittableRandom r, int n, double mean, double sd) {
    double[] x = new double[n];
    for (int i = 0; i < n; i++) {
      double u1 = 1 - r.nextDouble(), u2 = r.nextDouble();
      x[i] = mean + sd * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
    return x;
  }

  @Test
  void bootstrapIsReproducibleAndCoversTheTrueRatio() {
    SplittableRandom r = new SplittableRandom(7);
    double[] base = normal(r, 20, 100, 2), cand = normal(r, 20, 150, 3);
    Stats.Interval a = Stats.bootstrapRatioOfMedians(cand, base, 0.99, 5000, 42);
    Stats.Interval b = Stats.bootstrapRatioOfMedians(cand, base, 0.99, 5000, 42);
    assertEquals(a, b); // same data, same seed: bit-identical interval
    assertTrue(a.lo() < 1.5 && 1.5 < a.hi() && a.hi() - a.lo() < 0.1, a.toString());
    Stats.Interval c = Stats.bootstrapRatioOfMedians(cand, base, 0.99, 5000, 43);
    assertTrue(Math.abs(c.lo() - a.lo()) < 0.01, "another seed moves the ends only by resampling noise: " + a + " " + c);
  }

  @Test
  void sampleSizeEstimates() {
    // Complete separation (P(worse) = 1): Noether (z_{0.995} + z_{0.8})^2 / (3 * 0.25) / 2 = 7.79 -> 8 per side,
    // above the exact test's floor of 5 (2 / C(10, 5) = 0.0079 < 0.01).
    assertEquals(8, Stats.samplesForSignificance(1.0, 0.01));
    // 24 benchmarks, alpha 0.01 / 24 per test: (z_{1-0.01/48} + z_{0.8})^2 / 0.75 / 2 = 4.3709^2 / 1.5 = 12.74 -> 13.
    assertEquals(13, Stats.samplesForSignificance(1.0, 0.01 / 24));
    // A weak effect needs many: P(worse) = 0.6, Noether (z_{0.995} + z_{0.8})^2 / (3 * 0.01) / 2 = 195 per side.
    assertEquals(195, Stats.samplesForSignificance(0.6, 0.01), 1);
    // Interval [1.0, 1.2] around 1.05 with band up to 1.1: half-width 0.15 must shrink to 0.05, 9x the samples.
    assertEquals(90, Stats.samplesForInterval(10, 1.05, 1.0, 1.2, 1 / 1.1, 1.1));
    assertEquals(Stats.MORE_CAP, Stats.samplesForInterval(10, 1.1, 1.0, 1.2, 1 / 1.1, 1.1));
  }
}
