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

  /**
   * The layer-norm probes' tensors (LnProbe, LnPar, LnDrift): x and dy N(0, 1) from {@code Random(1)}, gamma and beta
   * ramps, and mean/invStd from one {@code LayerNorm.forward} into y.
   */
  static final class LnData {
    final int r, f;
    final float[] x, dy, y, g, b, dg, db, m, is;

    LnData(String rxf) {
      String[] s = rxf.split("x");
      r = Integer.parseInt(s[0]);
      f = Integer.parseInt(s[1]);
      java.util.Random rnd = new java.util.Random(1);
      x = new float[r * f]; dy = new float[r * f]; y = new float[r * f];
      g = new float[f]; b = new float[f]; dg = new float[f]; db = new float[f]; m = new float[r]; is = new float[r];
      for (int i = 0; i < x.length; i++) { x[i] = (float) rnd.nextGaussian(); dy[i] = (float) rnd.nextGaussian(); }
      for (int i = 0; i < f; i++) { g[i] = 1 + 0.1f * i / f; b[i] = 0.01f * i; }
      dev.vecnorm.LayerNorm.forward(r, f, x, 0, g, b, 1e-3f, y, 0, m, is);
    }
  }
}
