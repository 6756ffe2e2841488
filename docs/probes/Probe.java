import java.util.Arrays;

/** The probes' shared timing: warm-up rounds, then rounds of best-of-{@code reps} calls per variant, alternating. */
final class Probe {
  private Probe() {}

  /** {@code label} then each variant's median over {@code rounds} of its best-of-{@code reps} call time, in µs. */
  static String medians(String label, String[] names, Runnable[] ops, int warm, int rounds, int reps) {
    for (int w = 0; w < warm; w++) for (Runnable o : ops) o.run();
    double[][] t = new double[ops.length][rounds];
    for (int k = 0; k < rounds; k++) {
      for (int o = 0; o < ops.length; o++) {
        long best = Long.MAX_VALUE;
        for (int rep = 0; rep < reps; rep++) {
          long t0 = System.nanoTime();
          ops[o].run();
          best = Math.min(best, System.nanoTime() - t0);
        }
        t[o][k] = best / 1e3;
      }
    }
    StringBuilder sb = new StringBuilder(label);
    for (int o = 0; o < ops.length; o++) {
      Arrays.sort(t[o]);
      sb.append(String.format(" %s %.0f", names[o], t[o][rounds / 2]));
    }
    return sb.toString();
  }
}
