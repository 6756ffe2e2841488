package dev.vecnorm.internal;

import java.util.*;
/**
 * LayerNorm forward in one JVM: the library's rows-apart form (PanamaLayerNormSupport.forwardRowsApart) against its
 * pipelined loop (PanamaLayerNormSupport.forwardPipelined, which forward runs for wide rows from memory), for any shape; checks the bits are equal, then prints the medians and the median per-round ratio. args: RxF...
 * (in package dev.vecnorm.internal to reach them; run as dev.vecnorm.internal.LnFwdAB)
 */
public class LnFwdAB {
  public static void main(String[] a) {
    int rounds = Integer.getInteger("rounds", 15);
    for (String sh : a) {
      String[] s = sh.split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]);
      Random rnd = new Random(1);
      float[] x = new float[r*f], y = new float[r*f], y2 = new float[r*f], g = new float[f], b = new float[f];
      float[] m = new float[r], is = new float[r], m2 = new float[r], is2 = new float[r];
      for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
      for (int i = 0; i < f; i++) { g[i] = 1 + 0.1f*i/f; b[i] = 0.01f*i; }
      Runnable lib = () -> PanamaLayerNormSupport.forwardRowsApart(x, 0, y, 0, r, f, g, b, 1e-3f, m, is, 0);
      Runnable old = () -> PanamaLayerNormSupport.forwardPipelined(x, 0, y2, 0, r, f, g, b, 1e-3f, m2, is2, 0);
      for (int w = 0; w < 300; w++) { lib.run(); old.run(); }
      if (!Arrays.equals(y, y2) || !Arrays.equals(m, m2) || !Arrays.equals(is, is2)) throw new AssertionError("bits differ at " + sh);
      double[] ra = new double[rounds];
      double[][] t = new double[2][rounds];
      for (int q = 0; q < rounds; q++) {
        Runnable[] ops = q % 2 == 0 ? new Runnable[] {lib, old} : new Runnable[] {old, lib};
        for (int o = 0; o < 2; o++) {
          long best = Long.MAX_VALUE;
          for (int rep = 0; rep < 5; rep++) { long t0 = System.nanoTime(); ops[o].run(); best = Math.min(best, System.nanoTime() - t0); }
          t[(q % 2 == 0) == (o == 0) ? 0 : 1][q] = best / 1e3;
        }
        ra[q] = t[0][q] / t[1][q];
      }
      Arrays.sort(ra); Arrays.sort(t[0]); Arrays.sort(t[1]);
      System.out.printf("%s rowsApart %.0f pipelined %.0f  ratio median %.3f (%.3f-%.3f)%n", sh, t[0][rounds / 2], t[1][rounds / 2], ra[rounds / 2], ra[0], ra[rounds - 1]);
    }
  }
}
