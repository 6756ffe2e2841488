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
      System.out.println(PairedAB.run("rms " + sh, "rowsApart", apart, "pipelined", lib, rounds));
    }
  }
}
