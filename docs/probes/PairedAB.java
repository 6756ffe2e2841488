package dev.vecnorm.internal;

import java.util.Arrays;

/** LnFwdAB's and RmsFwdAB's timing: two calls alternating (order swapped each round), best of 5 each a round. */
final class PairedAB {
  private PairedAB() {}

  /** {@code label a A b B ratio median M (min-max)}: medians (µs) of the rounds' best-of-5, and of the per-round ratio a / b. */
  static String run(String label, String nameA, Runnable a, String nameB, Runnable b, int rounds) {
    double[] ra = new double[rounds];
    double[][] t = new double[2][rounds];
    for (int q = 0; q < rounds; q++) {
      Runnable[] ops = q % 2 == 0 ? new Runnable[] {a, b} : new Runnable[] {b, a};
      for (int o = 0; o < 2; o++) {
        long best = Long.MAX_VALUE;
        for (int rep = 0; rep < 5; rep++) {
          long t0 = System.nanoTime();
          ops[o].run();
          best = Math.min(best, System.nanoTime() - t0);
        }
        t[(q % 2 == 0) == (o == 0) ? 0 : 1][q] = best / 1e3;
      }
      ra[q] = t[0][q] / t[1][q];
    }
    Arrays.sort(ra);
    Arrays.sort(t[0]);
    Arrays.sort(t[1]);
    return String.format("%s %s %.0f %s %.0f  ratio median %.3f (%.3f-%.3f)", label, nameA, t[0][rounds / 2], nameB, t[1][rounds / 2],
        ra[rounds / 2], ra[0], ra[rounds - 1]);
  }
}
