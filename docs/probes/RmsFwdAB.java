package dev.vecnorm.internal;

import java.util.*;
/**
 * RMS norm forward in one JVM: rows apart (PanamaLayerNormSupport.rmsForwardRowsApart) against the pipelined loop
 * (rmsForwardPipelined); bits checked. args: RxF... (in package dev.vecnorm.internal; run as dev.vecnorm.internal.RmsFwdAB)
 */
public class RmsFwdAB {
  public static void main(String[] a) {
    int rounds = Integer.getInteger("rounds", 15);
    for (String sh : a) {
      String[] s = sh.split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]);
      Random rnd = new Random(1);
      float[] x = new float[r*f], y = new float[r*f], y2 = new float[r*f], g = new float[f], is = new float[r], is2 = new float[r];
      for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
      for (int i = 0; i < f; i++) g[i] = 1 + 0.1f*i/f;
      Runnable apart = () -> PanamaLayerNormSupport.rmsForwardRowsApart(x, 0, y, 0, r, f, g, 1e-3f, is, 0);
      Runnable lib = () -> PanamaLayerNormSupport.rmsForwardPipelined(x, 0, y2, 0, r, f, g, 1e-3f, is2, 0);
      for (int w = 0; w < 300; w++) { apart.run(); lib.run(); }
      if (!Arrays.equals(y, y2) || !Arrays.equals(is, is2)) throw new AssertionError("bits differ at " + sh);
      double[] ra = new double[rounds];
      double[][] t = new double[2][rounds];
      for (int q = 0; q < rounds; q++) {
        Runnable[] ops = q % 2 == 0 ? new Runnable[] {apart, lib} : new Runnable[] {lib, apart};
        for (int o = 0; o < 2; o++) {
          long best = Long.MAX_VALUE;
          for (int rep = 0; rep < 5; rep++) { long t0 = System.nanoTime(); ops[o].run(); best = Math.min(best, System.nanoTime() - t0); }
          t[(q % 2 == 0) == (o == 0) ? 0 : 1][q] = best / 1e3;
        }
        ra[q] = t[0][q] / t[1][q];
      }
      Arrays.sort(ra); Arrays.sort(t[0]); Arrays.sort(t[1]);
      System.out.printf("rms %s rowsApart %.0f pipelined %.0f  ratio median %.3f (%.3f-%.3f)%n", sh, t[0][rounds / 2], t[1][rounds / 2], ra[rounds / 2], ra[0], ra[rounds - 1]);
    }
  }
}
